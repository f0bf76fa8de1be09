//! What `template.yaml` declares that the bill counts: alarms (by the metrics they read),
//! the secret, the queues and log groups, the functions' memory and the logs' retention.
//! The bench prices [`DECLARED`]; a test reads the template so the list stays true.

/// The template's resources and defaults that the cost model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub alarms: u32,
    /// Metrics the alarms read (a metric-math alarm is billed per metric).
    pub alarm_metrics: u32,
    pub secrets: u32,
    /// Dead-letter queues: free standing, billed per request.
    pub queues: u32,
    /// One per function: free standing, billed by what they ingest and keep.
    pub log_groups: u32,
    /// Every function's memory (the `Globals` default; no function sets its own).
    pub memory_mb: u32,
    /// `LogRetentionDays`' default.
    pub log_retention_days: u32,
}

pub const DECLARED: Declared = Declared {
    alarms: 19,
    alarm_metrics: 21,
    secrets: 1,
    queues: 6,
    log_groups: 7,
    memory_mb: 256,
    log_retention_days: 30,
};

/// Reads `template` (its text; the layout `template.yaml` keeps: two-space resource names,
/// `Type:` under each) into a [`Declared`]. `None` when a function sets its own memory,
/// which the model would have to price apart.
pub fn declared(template: &str) -> Option<Declared> {
    let mut out = Declared {
        alarms: 0,
        alarm_metrics: 0,
        secrets: 0,
        queues: 0,
        log_groups: 0,
        memory_mb: 0,
        log_retention_days: 0,
    };
    let mut section = "";
    let mut kind = String::new();
    let mut parameter = "";
    for line in template.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line.trim_end_matches(':');
            continue;
        }
        let trimmed = line.trim();
        let is_name = line.starts_with("  ") && !line.starts_with("   ") && trimmed.ends_with(':');
        if is_name {
            kind.clear();
            parameter = if section == "Parameters" { trimmed } else { "" };
            continue;
        }
        let value = |key: &str| trimmed.strip_prefix(key).map(str::trim);
        match section {
            "Globals" => {
                if let Some(mb) = value("MemorySize:").and_then(|v| v.parse().ok()) {
                    out.memory_mb = mb;
                }
            }
            "Parameters" if parameter == "LogRetentionDays:" => {
                if let Some(d) = value("Default:").and_then(|v| v.parse().ok()) {
                    out.log_retention_days = d;
                }
            }
            "Resources" => {
                if let Some(t) = value("Type:").filter(|_| line.starts_with("    Type:")) {
                    kind = t.to_owned();
                    match t {
                        "AWS::CloudWatch::Alarm" => out.alarms += 1,
                        "AWS::SecretsManager::Secret" => out.secrets += 1,
                        "AWS::SQS::Queue" => out.queues += 1,
                        "AWS::Logs::LogGroup" => out.log_groups += 1,
                        _ => {}
                    }
                } else if kind == "AWS::CloudWatch::Alarm" && trimmed.starts_with("MetricName:") {
                    out.alarm_metrics += 1;
                } else if kind == "AWS::Serverless::Function" && trimmed.starts_with("MemorySize:")
                {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_what_template_yaml_declares() {
        let template = include_str!("../../../../template.yaml");
        assert_eq!(declared(template), Some(DECLARED));
    }

    #[test]
    fn reads_alarms_by_their_metrics_and_refuses_a_function_memory() {
        let base = "Globals:\n  Function:\n    MemorySize: 512\nParameters:\n  LogRetentionDays:\n    Type: Number\n    Default: 7\nResources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      MetricName: Errors\n  B:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      Metrics:\n        - Id: e\n        - Id: m1\n          MetricStat:\n            Metric:\n              MetricName: X\n        - Id: m2\n          MetricStat:\n            Metric:\n              MetricName: Y\n  Q:\n    Type: AWS::SQS::Queue\n  S:\n    Type: AWS::SecretsManager::Secret\n  L:\n    Type: AWS::Logs::LogGroup\n";
        let want = Declared {
            alarms: 2,
            alarm_metrics: 3,
            secrets: 1,
            queues: 1,
            log_groups: 1,
            memory_mb: 512,
            log_retention_days: 7,
        };
        assert_eq!(declared(base), Some(want));
        let own = format!(
            "{base}  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: 1024\n"
        );
        assert_eq!(declared(&own), None);
    }
}
