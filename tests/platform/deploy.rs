//! The Kubernetes manifests keep what the failure analysis (README, "When things fail") relies
//! on: JetStream fsyncs before acknowledging, streams are replicated three times on a three-node
//! cluster that loses at most one node to a disruption, and every service runs two replicas of
//! which a disruption leaves one.

fn manifest(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/k8s")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap()
        .split("\n---")
        .map(str::to_owned)
        .collect()
}

/// The first value of `key: value` in a document (ignoring comments).
fn value<'a>(doc: &'a str, key: &str) -> Option<&'a str> {
    doc.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
}

fn kind(doc: &str) -> Option<&str> {
    doc.lines().find_map(|l| l.strip_prefix("kind:")).map(str::trim)
}

fn name(doc: &str) -> Option<&str> {
    value(doc, "name")
}

#[test]
fn jetstream_is_durable_and_keeps_quorum() {
    let docs = manifest("nats.yaml");
    let config = docs.iter().find(|d| kind(d) == Some("ConfigMap")).unwrap();
    let jetstream = &config[config.find("jetstream {").expect("a jetstream block")..];
    let block = &jetstream[..jetstream.find('}').unwrap()];
    assert_eq!(value(block, "sync_interval"), Some("always"), "{block}");
    let set = docs.iter().find(|d| kind(d) == Some("StatefulSet")).unwrap();
    assert_eq!(value(set, "replicas"), Some("3"));
    let pdb = docs.iter().find(|d| kind(d) == Some("PodDisruptionBudget")).unwrap();
    assert_eq!(
        value(pdb, "maxUnavailable"),
        Some("1"),
        "two of three nodes stay: quorum"
    );
}

#[test]
fn every_service_has_replicas_a_disruption_budget_and_r3_streams() {
    let docs = manifest("services.yaml");
    let deployments: Vec<&String> = docs.iter().filter(|d| kind(d) == Some("Deployment")).collect();
    assert!(deployments.len() >= 6, "{} deployments", deployments.len());
    for d in deployments {
        let n = name(d).unwrap();
        assert!(
            value(d, "replicas").and_then(|r| r.parse::<u32>().ok()).unwrap_or(0) >= 2,
            "{n}: fewer than two replicas"
        );
        let pdb = docs
            .iter()
            .find(|p| kind(p) == Some("PodDisruptionBudget") && name(p) == Some(n))
            .unwrap_or_else(|| panic!("{n}: no PodDisruptionBudget"));
        assert_eq!(value(pdb, "minAvailable"), Some("1"), "{n}");
        let services = ["ordo-order", "ordo-payment", "ordo-delivery", "ordo-notification"];
        if services.contains(&n) {
            assert!(
                d.contains(r#"{ name: ORDO_NATS__STREAM_REPLICAS, value: "3" }"#),
                "{n}: streams not R3"
            );
        }
    }
}
