//! ztps-events
