//! Real-world `remote_write` blocks (`tests/configs/examples/`, and the whole
//! `tests/configs/prometheus.yml`): each is accepted as it is or, where it needs a key promrw
//! does not implement yet, parsed and then refused by the check `Sender::new` makes, naming
//! that key. No sender is started: the hosts are examples and nothing is contacted.

use promrw::Config;

/// The file's text parsed as a configuration, and what `Sender::new` would say of it.
fn check(file: &str) -> (Config, promrw::Result<()>) {
    let path = format!("tests/configs/{file}");
    let config = Config::from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let supported = config.check_supported();
    (config, supported)
}

#[test]
fn blocks_users_have_are_accepted_as_they_are() {
    for file in [
        "examples/grafana_cloud.yml",
        "examples/mimir_fixed_tenant.yml",
        "examples/mimir_tenant_routing.yml",
        "examples/thanos_receive.yml",
        "examples/victoriametrics.yml",
        "examples/prometheus_docs_relabel.yml",
    ] {
        let (_, supported) = check(file);
        assert!(supported.is_ok(), "{file}: {supported:?}");
    }
    let (config, _) = check("examples/prometheus_docs_relabel.yml");
    assert_eq!(config.endpoints[0].write_relabel_configs.rules().len(), 2);
    assert_eq!(config.endpoints[1].write_relabel_configs.rules().len(), 4);
    assert_eq!(config.external_labels.get("region"), Some("eu-west"));
    let (config, _) = check("examples/mimir_tenant_routing.yml");
    let tenant = config.endpoints[0].tenant.as_ref().expect("tenant block");
    assert_eq!(
        (
            tenant.label.as_str(),
            tenant.header.as_str(),
            tenant.default.as_deref()
        ),
        ("team", "X-Scope-OrgID", Some("shared"))
    );
    let (config, _) = check("examples/grafana_cloud.yml");
    let basic = config.endpoints[0].basic_auth.as_ref().expect("basic_auth");
    assert_eq!(basic.username, "123456");
}

#[test]
fn amazon_managed_prometheus_is_accepted() {
    let (config, supported) = check("examples/amazon_managed_prometheus.yml");
    let sigv4 = config.endpoints[0].sigv4.as_ref().expect("sigv4 parsed");
    assert_eq!(sigv4.region.as_deref(), Some("us-east-1"));
    assert_eq!(config.endpoints[0].queue.max_shards, 200);
    assert!(supported.is_ok(), "{supported:?}");
}

#[test]
fn a_whole_prometheus_yml_is_accepted() {
    let text = std::fs::read_to_string("tests/configs/prometheus.yml")
        .unwrap()
        .replace("RECEIVER_URL", "http://127.0.0.1:9/api/v1/write")
        .replace("BEARER_FILE", "/run/secrets/token");
    let config = Config::from_text(&text).unwrap();
    assert!(config.check_supported().is_ok());
    assert!(
        config
            .ignored_prometheus_keys
            .contains(&"scrape_configs".to_string())
    );
}

/// The YAML blocks of a section of docs/CONFIGURATION.md.
fn yaml_blocks_of_section(heading: &str) -> Vec<String> {
    let doc = std::fs::read_to_string("docs/CONFIGURATION.md").unwrap();
    let start = doc.find(heading).unwrap_or_else(|| panic!("{heading}"));
    let rest = &doc[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    section
        .split("```yaml\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("closed block")].to_string())
        .collect()
}

#[test]
fn the_managed_service_blocks_of_the_docs_are_accepted() {
    let blocks = yaml_blocks_of_section(
        "## Sending to Amazon Managed Service for Prometheus, Grafana Cloud and Azure Monitor",
    );
    assert!(blocks.len() >= 6, "{blocks:?}");
    for block in &blocks {
        let config = Config::from_text(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let supported = config.check_supported();
        assert!(supported.is_ok(), "{supported:?}\n{block}");
    }
    let text = blocks.join("\n");
    for key in [
        "sigv4:",
        "role_arn:",
        "basic_auth:",
        "oauth2:",
        "azuread:",
        "managed_identity:",
    ] {
        assert!(text.contains(key), "{key} shown");
    }
}
