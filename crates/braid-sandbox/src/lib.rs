//! braid-sandbox
