//! Black-box: OTLP cannot impersonate the prober. A point named like a probe series
//! (`probe_success{probe="down"} 1`) is refused with the partial-success reason
//! `reserved_name`, and the down probe stays down in queries and on the status page.

mod common;

use common::{Vitals, find_sample};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// One gauge point `name{attrs} value` at the current time.
fn gauge(name: &str, attrs: &[(&str, &str)], value: f64) -> ExportMetricsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "impostor")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                            time_unix_nano: now,
                            value: Some(number_data_point::Value::AsDouble(value)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_cannot_write_probe_series() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // dropped: nothing listens there any more
    let vitals = Vitals::start(&format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
otlp:
  grpc_listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:0"
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - {{name: real-down, tcp: "{refused}"}}
"#
    ));
    vitals
        .wait_for_sample("probe_success", &[("probe", "real-down")], |v| v == 0.0)
        .await;

    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let post = |req: ExportMetricsServiceRequest| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(req.encode_to_vec())
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200);
            let body = r.bytes().await.expect("body");
            ExportMetricsServiceResponse::decode(body.as_ref()).expect("response")
        }
    };

    let resp = post(gauge("probe_success", &[("probe", "real-down")], 1.0)).await;
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1, "{partial:?}");
    assert!(
        partial.error_message.contains("reserved_name"),
        "{partial:?}"
    );
    // The other probe names are reserved too; a name of one's own is not.
    for name in ["probe_duration_seconds", "probe.http.status.code"] {
        let resp = post(gauge(name, &[("probe", "real-down")], 0.01)).await;
        let partial = resp.partial_success.expect("partial success");
        assert_eq!(partial.rejected_data_points, 1, "{name}: {partial:?}");
    }
    let resp = post(gauge("probe_custom", &[("probe", "real-down")], 1.0)).await;
    assert!(
        resp.partial_success
            .as_ref()
            .is_none_or(|p| p.rejected_data_points == 0),
        "{resp:?}"
    );

    let text = vitals.metrics().await;
    assert_eq!(
        find_sample(
            &text,
            "vitals_otlp_rejected_points_total",
            &[("signal", "metrics"), ("reason", "reserved_name")]
        ),
        Some(3.0),
        "{text}"
    );

    let v = vitals.get_json("/api/v1/query?query=probe_success").await;
    let results = v["data"]["result"].as_array().expect("vector").clone();
    let ours: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["metric"]["probe"] == "real-down")
        .collect();
    assert_eq!(ours.len(), 1, "{v}");
    assert_eq!(ours[0]["value"][1], "0", "{v}");
    assert_eq!(ours[0]["metric"]["instance"], refused.to_string(), "{v}");
}
