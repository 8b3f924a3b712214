//! ztps-vm
