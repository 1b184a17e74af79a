use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use braid_core::Connector;

/// The prefix of dynamic-library connectors: `plugin:<path or name>`.
pub const PLUGIN_PREFIX: &str = "plugin";

/// Makes the connector of a `<prefix>:<argument>` name (e.g. the command of
/// `airbyte:source-faker`), or says why there is none (a plugin library
/// that is missing or built for another ABI version).
pub type ConnectorFamily =
    Arc<dyn Fn(&str) -> std::result::Result<Arc<dyn Connector>, String> + Send + Sync>;

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
        r.register(Arc::new(braid_connector_google_ads::GoogleAdsConnector));
        r.register(Arc::new(braid_connector_salesforce::SalesforceConnector));
        r.register(Arc::new(braid_connector_postgres::PostgresConnector));
        r.register(Arc::new(braid_connector_shopify::ShopifyConnector));
        r.register(Arc::new(braid_connector_woocommerce::WooCommerceConnector));
        r.register(Arc::new(braid_connector_oceanengine::OceanEngineConnector));
        r.register(Arc::new(braid_connector_wechat_oa::WeChatOaConnector));
        r.register(Arc::new(braid_connector_loyaltylion::LoyaltyLionConnector));
        r.register(Arc::new(braid_connector_tiktok_ads::TikTokAdsConnector));
        r.register(Arc::new(
            braid_connector_files::FilesConnector::with_base_dir(base_dir),
        ));
        let dir = base_dir.to_path_buf();
        r.register_family(
            braid_connector_subprocess::AIRBYTE_PREFIX,
            Arc::new(move |command| {
                Ok(Arc::new(braid_connector_subprocess::AirbyteConnector::new(
                    command,
                    Some(dir.clone()),
                )))
            }),
        );
        let dir = base_dir.to_path_buf();
        r.register_family(
            braid_connector_subprocess::SINGER_PREFIX,
            Arc::new(move |command| {
                Ok(Arc::new(braid_connector_subprocess::SingerConnector::new(
                    command,
                    Some(dir.clone()),
                )))
            }),
        );
        let dir = base_dir.to_path_buf();
        r.register_family(
            PLUGIN_PREFIX,
            Arc::new(move |reference| {
                braid_plugin::host::connector(reference, &dir)
                    .map(|c| Arc::new(c) as Arc<dyn Connector>)
                    .map_err(|e| e.to_string())
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
    /// (`airbyte:<command>`, `plugin:<path or name>`). The error says why
    /// there is none (unknown name, a plugin that does not load).
    pub fn get(&self, name: &str) -> std::result::Result<Arc<dyn Connector>, String> {
        if let Some(c) = self.connectors.get(name) {
            return Ok(c.clone());
        }
        let unknown = || {
            format!(
                "unknown connector `{name}`; expected one of: {}",
                self.names().join(", ")
            )
        };
        let (prefix, argument) = name.split_once(':').ok_or_else(unknown)?;
        let family = self.families.get(prefix).ok_or_else(unknown)?;
        family(argument.trim())
    }

    /// Names of every registered connector, families as `<prefix>:<…>`.
    pub fn names(&self) -> Vec<String> {
        self.connectors
            .keys()
            .cloned()
            .chain(self.families.keys().map(|p| match p.as_str() {
                PLUGIN_PREFIX => format!("{p}:<path or name>"),
                _ => format!("{p}:<command>"),
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_plugin_fails_its_build_naming_the_search() {
        let r = Registry::builtin(Path::new("/nonexistent-braid-dir"));
        let Err(msg) = r.get("plugin:./plugins/libacme_pos.so") else {
            panic!("a missing library must not load");
        };
        assert!(
            msg.contains("/nonexistent-braid-dir/./plugins/libacme_pos.so"),
            "{msg}"
        );
        assert!(r.names().contains(&"plugin:<path or name>".to_string()));
        assert!(r.get("loyaltylion").is_ok());
        let unknown = r.get("acme").err().unwrap();
        assert!(
            unknown.starts_with("unknown connector `acme`; expected one of: "),
            "{unknown}"
        );
        assert!(r.get("nope:thing").is_err());
    }
}
