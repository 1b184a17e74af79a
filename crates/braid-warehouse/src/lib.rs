//! braid-warehouse
