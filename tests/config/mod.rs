//! Config files, their bounds and hostile values; themes.

mod alertmanager;
mod bounds;
mod files;
mod hostile;
mod theme_contrast;
mod themes;
