//! Experiments, gRPC health and process/cgroup metrics against the binary (placeholder while
//! the modules are written; the routes are wired in after the redesign lands).
use tonic_health::pb::health_client::HealthClient;

#[test]
fn client_types_exist() {
    let _ = std::mem::size_of::<HealthClient<tonic::transport::Channel>>();
}
