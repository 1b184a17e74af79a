//! The braid plugin boundary: connectors shipped as dynamic libraries.
//!
//! - [`abi`]: the C ABI both sides speak (version handshake, symbols,
//!   status codes, the JSON documents for spec/config/catalog/state/messages;
//!   data goes through the Arrow C Stream Interface).
//! - `guest` (feature `guest`): the plugin side, which
//!   `braid_sdk::export_plugin!` expands to.
//! - `host` (feature `host`, default): loading with `libloading`, the ABI
//!   check, a plugin as a `Connector`/`Source`, `BRAID_PLUGIN_PATH` lookup
//!   and listing.
//!
//! Nothing but C types crosses: no Rust type, allocator, panic or async
//! runtime. See `docs/writing-a-connector.md` for a vendor's walkthrough.

pub mod abi;
#[cfg(feature = "guest")]
pub mod guest;
#[cfg(feature = "host")]
pub mod host;

pub use abi::ABI_VERSION;
#[cfg(feature = "host")]
pub use host::{Plugin, PluginConnector, PluginError, PluginSource};

/// The arrow crates the ABI's C structs come from (for the export macro).
pub use arrow_array;
pub use arrow_schema;
