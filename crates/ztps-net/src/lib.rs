//! ztps-net
