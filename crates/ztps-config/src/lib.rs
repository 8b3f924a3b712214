//! ztps-config
