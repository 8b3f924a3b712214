//! ztps-render
