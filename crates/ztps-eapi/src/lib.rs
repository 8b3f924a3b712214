//! ztps-eapi
