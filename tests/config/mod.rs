//! Config files, their bounds and hostile values; themes.

mod bounds;
mod files;
mod hostile;
mod theme_contrast;
mod themes;
