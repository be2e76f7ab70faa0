//! CloudWatch names → Prometheus names, exactly as yet-another-cloudwatch-exporter (YACE)
//! builds them, so YACE's dashboards and the shipped `rules/cloudwatch.yml` work on what the
//! CloudWatch source writes: `aws_<namespace>_<metric>_<statistic>` (YACE's `BuildMetricName`)
//! and `dimension_<Name>` labels (YACE's `sanitize`, case kept).

/// The characters YACE replaces with `_` in names and labels.
fn is_replaced(c: char) -> bool {
    matches!(
        c,
        ' ' | ',' | '\t' | '/' | '\\' | '.' | '-' | ':' | '=' | '@' | '<' | '>' | '(' | ')' | '“'
    )
}

/// YACE's `PromStringToBuilder`: punctuation becomes `_`, `%` becomes `_percent`, `_` goes
/// where a lower-case letter or digit meets an upper-case one, and all is lower-cased
/// (`HTTPCode_Target_5XX_Count` → `httpcode_target_5_xx_count`).
pub fn prom_string(text: &str, out: &mut String) {
    out.reserve(text.len());
    let mut prev = '\0';
    for c in text.chars() {
        match c {
            c if is_replaced(c) => out.push('_'),
            '%' => out.push_str("_percent"),
            _ => {
                if c.is_uppercase() && (prev.is_lowercase() || prev.is_numeric()) {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            }
        }
        prev = c;
    }
}

/// YACE's `BuildMetricName`: `AWS/ApplicationELB`, `TargetResponseTime`, `p95` →
/// `aws_applicationelb_target_response_time_p95`. A metric name that repeats a part of the
/// namespace as its prefix loses it (`Glue`, `glue.driver.x` → `aws_glue_driver_x_…`).
pub fn metric_name(namespace: &str, metric: &str, statistic: &str) -> String {
    let mut ns = String::new();
    prom_string(
        &namespace
            .strip_prefix('/')
            .unwrap_or(namespace)
            .to_lowercase(),
        &mut ns,
    );
    let mut out = String::with_capacity(ns.len() + metric.len() + statistic.len() + 8);
    if !ns.starts_with("aws") {
        out.push_str("aws_");
    }
    out.push_str(&ns);
    out.push('_');
    let mut name = String::new();
    prom_string(metric, &mut name);
    // As YACE: `skip` is the length of the last namespace part that prefixes the rest.
    let mut skip = 0;
    for part in ns.split('_') {
        if name.get(skip..).is_some_and(|rest| rest.starts_with(part)) {
            skip = part.len();
        }
    }
    let rest = name.get(skip..).unwrap_or(&name);
    out.push_str(rest.strip_prefix('_').unwrap_or(rest));
    if !statistic.is_empty() {
        out.push('_');
        prom_string(statistic, &mut out);
    }
    out
}

/// YACE's `sanitize` (its default, `labelsSnakeCase: false`): the dimension name with
/// punctuation replaced by `_` and its case kept, so `LoadBalancer` → `dimension_LoadBalancer`.
/// `None` when the result is not a valid Prometheus label name (YACE drops it with a warning).
pub fn dimension_label(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 10);
    out.push_str("dimension_");
    for c in name.chars() {
        match c {
            c if is_replaced(c) => out.push('_'),
            '%' => out.push_str("_percent"),
            c => out.push(c),
        }
    }
    out.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_match_yace() {
        // YACE's TestBuildMetricName cases, then the names rules/cloudwatch.yml uses.
        for (ns, metric, stat, want) in [
            (
                "AWS/ElastiCache",
                "CPUUtilization",
                "Average",
                "aws_elasticache_cpuutilization_average",
            ),
            (
                "/aws/sagemaker/TrainingJobs",
                "CPUUtilization",
                "Average",
                "aws_sagemaker_trainingjobs_cpuutilization_average",
            ),
            (
                "Glue",
                "glue.driver.aggregate.bytesRead",
                "Average",
                "aws_glue_driver_aggregate_bytes_read_average",
            ),
            (
                "Glue",
                "aggregate.glue.jobs.bytesRead",
                "Average",
                "aws_glue_aggregate_glue_jobs_bytes_read_average",
            ),
            (
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                "Sum",
                "aws_applicationelb_httpcode_target_5_xx_count_sum",
            ),
            (
                "AWS/ApplicationELB",
                "RequestCount",
                "Sum",
                "aws_applicationelb_request_count_sum",
            ),
            (
                "AWS/ApplicationELB",
                "TargetResponseTime",
                "p95",
                "aws_applicationelb_target_response_time_p95",
            ),
            (
                "AWS/ApplicationELB",
                "TargetResponseTime",
                "p99.9",
                "aws_applicationelb_target_response_time_p99_9",
            ),
            (
                "AWS/ECS",
                "CPUUtilization",
                "Average",
                "aws_ecs_cpuutilization_average",
            ),
            (
                "AWS/ECS",
                "MemoryUtilization",
                "Maximum",
                "aws_ecs_memory_utilization_maximum",
            ),
            (
                "AWS/RDS",
                "DatabaseConnections",
                "SampleCount",
                "aws_rds_database_connections_sample_count",
            ),
            (
                "AWS/RDS",
                "FreeStorageSpace",
                "Minimum",
                "aws_rds_free_storage_space_minimum",
            ),
            (
                "AWS/EBS",
                "VolumeIdleTime",
                "Sum",
                "aws_ebs_volume_idle_time_sum",
            ),
            ("AWS/Lambda", "Errors", "Sum", "aws_lambda_errors_sum"),
        ] {
            assert_eq!(metric_name(ns, metric, stat), want, "{ns} {metric} {stat}");
        }
    }

    #[test]
    fn prom_string_handles_percent_and_punctuation() {
        let s = |t: &str| {
            let mut o = String::new();
            prom_string(t, &mut o);
            o
        };
        // As YACE: the `%` is not a lower-case letter, so no `_` before the `U`.
        assert_eq!(s("CPU%Used"), "cpu_percentused");
        assert_eq!(
            s("a.b-c:d=e@f<g>h(i)j k,l/m\\n"),
            "a_b_c_d_e_f_g_h_i_j_k_l_m_n"
        );
        assert_eq!(s("ABCDef"), "abcdef");
        assert_eq!(s("aB9C"), "a_b9_c");
        assert_eq!(s(""), "");
    }

    #[test]
    fn dimension_labels_keep_case_and_drop_invalid_names() {
        assert_eq!(
            dimension_label("LoadBalancer").as_deref(),
            Some("dimension_LoadBalancer")
        );
        assert_eq!(
            dimension_label("Target.Group").as_deref(),
            Some("dimension_Target_Group")
        );
        assert_eq!(dimension_label("Größe"), None);
    }

    proptest::proptest! {
        /// Any input gives a valid metric name (no panic on multi-byte text, which the
        /// namespace-prefix trimming slices by byte length).
        #[test]
        fn metric_names_are_valid(ns in "\\PC{0,20}", metric in "\\PC{0,30}", stat in "[A-Za-z0-9.]{0,8}") {
            let name = metric_name(&ns, &metric, &stat);
            proptest::prop_assert!(name.starts_with("aws"));
        }
    }
}
