//! ztps-swix
