//! braid-runtime
