//! Identity resolution for braid.
//!
//! * [`stitch()`] — one-shot deterministic stitching of Arrow edge arrays
//!   (`record_key`, `id_type`, `id_value`): strings interned to dense `u32`
//!   ids ([`intern`]), values over their type's limit set aside before any
//!   union, union-find in type priority order ([`stitch`]).
//! * [`Graph`] — the persisted graph behind `braid_id`: stable ids across
//!   runs (the oldest id survives a merge, the others are recorded as
//!   retired), incremental re-resolution of only the affected part, the
//!   optional probabilistic pass ([`prob`]), explanations and erasure.
//! * [`synth`] — a generator of people over CRM, shop, POS, WeChat and ads
//!   silos with ground truth, and pairwise precision/recall/F1.
//!
//! Configuration per identifier type ([`Config`]): whether it links, the
//! most distinct records a value may have before it is not followed, the
//! most values one person may hold, and the priority order.

#![warn(missing_docs)]

pub mod config;
mod error;
pub mod graph;
pub mod intern;
pub mod prob;
pub mod stitch;
pub mod synth;

pub use config::{Config, IdType};
pub use error::IdentityError;
pub use graph::{Graph, ResolveReport};
pub use prob::ProbConfig;
pub use stitch::{stitch, stitch_arrays, NotFollowed, Stitched};

#[cfg(test)]
mod tests;
