//! PromQL generation and escaping. (stub: being written)
