//! hubspot
