//! Property tests.

mod parsers;
