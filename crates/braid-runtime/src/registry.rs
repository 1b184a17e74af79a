use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use braid_core::Connector;

/// Makes the connector of a `<prefix>:<argument>` name (e.g. the command of
/// `airbyte:source-faker`).
pub type ConnectorFamily = Arc<dyn Fn(&str) -> Arc<dyn Connector> + Send + Sync>;

/// The connectors a runtime can build sources from, by name.
#[derive(Clone, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
    families: BTreeMap<String, ConnectorFamily>,
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
        r.register(Arc::new(braid_connector_meta_ads::MetaAdsConnector));
        r.register(Arc::new(braid_connector_salesforce::SalesforceConnector));
        r.register(Arc::new(braid_connector_postgres::PostgresConnector));
        r.register(Arc::new(braid_connector_shopify::ShopifyConnector));
        r.register(Arc::new(braid_connector_woocommerce::WooCommerceConnector));
        r.register(Arc::new(braid_connector_oceanengine::OceanEngineConnector));
        r.register(Arc::new(braid_connector_wechat_oa::WeChatOaConnector));
        r.register(Arc::new(
            braid_connector_files::FilesConnector::with_base_dir(base_dir),
        ));
        let dir = base_dir.to_path_buf();
        r.register_family(
            braid_connector_subprocess::AIRBYTE_PREFIX,
            Arc::new(move |command| {
                Arc::new(braid_connector_subprocess::AirbyteConnector::new(
                    command,
                    Some(dir.clone()),
                ))
            }),
        );
        let dir = base_dir.to_path_buf();
        r.register_family(
            braid_connector_subprocess::SINGER_PREFIX,
            Arc::new(move |command| {
                Arc::new(braid_connector_subprocess::SingerConnector::new(
                    command,
                    Some(dir.clone()),
                ))
            }),
        );
        r
    }

    /// Adds a family of connectors named `<prefix>:<argument>`.
    pub fn register_family(&mut self, prefix: &str, family: ConnectorFamily) {
        self.families.insert(prefix.to_owned(), family);
    }

    /// Adds (or replaces) a connector under its spec name.
    pub fn register(&mut self, connector: Arc<dyn Connector>) {
        self.connectors.insert(connector.spec().name, connector);
    }

    /// The connector named `name`: a registered one, or one of a family
    /// (`airbyte:<command>`).
    pub fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        if let Some(c) = self.connectors.get(name) {
            return Some(c.clone());
        }
        let (prefix, argument) = name.split_once(':')?;
        let family = self.families.get(prefix)?;
        Some(family(argument.trim()))
    }

    /// Names of every registered connector, families as `<prefix>:<…>`.
    pub fn names(&self) -> Vec<String> {
        self.connectors
            .keys()
            .cloned()
            .chain(self.families.keys().map(|p| format!("{p}:<command>")))
            .collect()
    }
}
