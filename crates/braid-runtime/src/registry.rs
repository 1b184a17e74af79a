use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use braid_core::Connector;

/// The connectors a runtime can build sources from, by name.
#[derive(Clone, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connectors compiled into braid. `base_dir` is where relative
    /// file paths in a pipeline resolve (the pipeline file's directory).
    pub fn builtin(base_dir: &Path) -> Self {
        let mut r = Self::new();
        r.register(Arc::new(braid_connector_hubspot::HubSpotConnector));
        r.register(Arc::new(braid_connector_square::SquareConnector));
        r.register(Arc::new(braid_connector_rest::RestConnector));
        r.register(Arc::new(braid_connector_salesforce::SalesforceConnector));
        r.register(Arc::new(braid_connector_postgres::PostgresConnector));
        r.register(Arc::new(braid_connector_shopify::ShopifyConnector));
        r.register(Arc::new(braid_connector_oceanengine::OceanEngineConnector));
        r.register(Arc::new(
            braid_connector_files::FilesConnector::with_base_dir(base_dir),
        ));
        r
    }

    /// Adds (or replaces) a connector under its spec name.
    pub fn register(&mut self, connector: Arc<dyn Connector>) {
        self.connectors.insert(connector.spec().name, connector);
    }

    /// The connector named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }

    /// Names of every registered connector.
    pub fn names(&self) -> Vec<&str> {
        self.connectors.keys().map(String::as_str).collect()
    }
}
