//! braid-sdk
