//! The project's own checks of rendered Kubernetes manifests, used by [`crate::chart`] on every
//! render and proved on manifests that break them in [`checks`]:
//!
//! * [`schema`]: strict JSON-schema validation for Kubernetes 1.29–1.35 with the upstream
//!   PyPI package `kubernetes-validate` (scripts/test installs it into `target/tools`);
//! * [`pss`]: the Pod Security Standards, baseline and restricted, written here in Rust;
//! * [`play`]: a smoke run with `podman kube play`, emulating what a kubelet adds.

mod checks;
pub mod play;
pub mod pss;
pub mod schema;

use serde::Deserialize;
use serde_json::Value;

/// The non-empty documents of a multi-document YAML stream, as JSON values.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML: {e}\n{yaml}")))
        .filter(|doc| !doc.is_null())
        .collect()
}
