//! ztps-dhcp
