//! docs/grafana-dashboard.json checked against a live /metrics: every series a panel or a
//! variable queries is one the server exposes after some traffic, with the labels the
//! query matches, groups by and shows in its legend.
//!
//! The PromQL is read by a small extraction, not a full parser: identifiers followed by
//! `(` are functions (from a fixed list, so a typo or an unknown one fails), those after
//! `by`/`without`/`on`/`ignoring` are labels, `{…}` holds matchers, `[…]` a range, and
//! every other identifier that is not an operator keyword is a metric name.

use std::collections::BTreeSet;

use crate::common::Harness;
use crate::metrics::{arn, redrive_policy, scrape, Exposition, Sample};

/// PromQL functions and aggregations a dashboard may use.
const FUNCTIONS: &[&str] = &[
    "abs",
    "avg",
    "avg_over_time",
    "ceil",
    "clamp_max",
    "clamp_min",
    "count",
    "delta",
    "deriv",
    "floor",
    "histogram_quantile",
    "increase",
    "irate",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "rate",
    "round",
    "sort",
    "sort_desc",
    "sum",
    "topk",
    "bottomk",
    "vector",
];

/// Keywords whose parenthesised list names labels.
const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Binary-operator keywords and modifiers that are neither metrics nor functions.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];

/// Labels Prometheus adds at scrape time: not in /metrics, present on every stored series.
const SCRAPE_LABELS: &[&str] = &["instance", "job"];

#[derive(Debug, PartialEq)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// What one PromQL expression names.
#[derive(Debug, Default, PartialEq)]
struct Uses {
    selectors: Vec<(String, Vec<Matcher>)>,
    grouping: Vec<String>,
    functions: Vec<String>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn uses(expr: &str) -> Result<Uses, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Uses::default();
    let mut i = 0;
    let skip_space = |mut j: usize| {
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            // A number (0.99, 1e3): never a name.
            while chars.get(i).is_some_and(|&c| is_ident(c) || c == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while chars.get(i).is_some_and(|&c| is_ident(c)) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_space(i);
            let aggregates = ["by", "without"].iter().any(|kw| {
                chars[next..].starts_with(&kw.chars().collect::<Vec<_>>())
                    && !chars.get(next + kw.len()).is_some_and(|&c| is_ident(c))
            });
            match chars.get(next) {
                // `sum by (…) (…)`: an aggregation whose grouping comes first.
                _ if aggregates && FUNCTIONS.contains(&word.as_str()) => out.functions.push(word),
                _ if aggregates => return Err(format!("unknown aggregation {word}")),
                Some('(') if GROUPING.contains(&word.as_str()) => {
                    let close = chars[next..].iter().position(|&c| c == ')').ok_or("unclosed label list")? + next;
                    let list: String = chars[next + 1..close].iter().collect();
                    out.grouping.extend(list.split(',').map(str::trim).filter(|l| !l.is_empty()).map(String::from));
                    i = close + 1;
                }
                Some('(') if FUNCTIONS.contains(&word.as_str()) => out.functions.push(word),
                Some('(') => return Err(format!("unknown function {word}")),
                _ if KEYWORDS.contains(&word.as_str()) => {}
                Some('{') => {
                    let (matchers, end) = matchers(&chars, next + 1)?;
                    out.selectors.push((word, matchers));
                    i = end;
                }
                _ => out.selectors.push((word, Vec::new())),
            }
        } else if c == '[' {
            i = chars[i..].iter().position(|&c| c == ']').ok_or("unclosed range")? + i + 1;
        } else if c == '{' || c == '"' || c == '\'' || c == '$' {
            return Err(format!(
                "unexpected {c:?} at {i}: a selector without a name, or a string or variable outside a matcher"
            ));
        } else {
            i += 1;
        }
    }
    Ok(out)
}

/// `label op "value"` matchers from `start` (just past `{`) to the closing `}`; returns them
/// and the index after `}`.
fn matchers(chars: &[char], mut i: usize) -> Result<(Vec<Matcher>, usize), String> {
    let mut out = Vec::new();
    loop {
        while chars.get(i).is_some_and(|&c| c.is_whitespace() || c == ',') {
            i += 1;
        }
        if chars.get(i) == Some(&'}') {
            return Ok((out, i + 1));
        }
        let start = i;
        while chars.get(i).is_some_and(|&c| is_ident(c)) {
            i += 1;
        }
        let label: String = chars[start..i].iter().collect();
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| chars[i..].starts_with(&op.chars().collect::<Vec<_>>()))
            .ok_or_else(|| format!("no matcher operator after {label:?}"))?;
        i += op.len();
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if chars.get(i) != Some(&'"') || label.is_empty() {
            return Err(format!("matcher {label:?}{op} without a quoted value"));
        }
        let close = chars[i + 1..].iter().position(|&c| c == '"').ok_or("unclosed matcher value")? + i + 1;
        out.push(Matcher { label, op: op.to_string(), value: chars[i + 1..close].iter().collect() });
        i = close + 1;
    }
}

/// Whether a sample passes a matcher. A regex matcher must hold a whole Grafana variable,
/// which matches every value when "All" is chosen (its allValue is `.*`).
fn passes(sample: &Sample, m: &Matcher) -> bool {
    let value = sample.labels.get(&m.label).map_or("", String::as_str);
    match m.op.as_str() {
        "=" => value == m.value,
        "!=" => value != m.value,
        "=~" => {
            assert!(m.value.starts_with('$'), "regex matcher {m:?}: only a variable is checked");
            true
        }
        _ => panic!("matcher {m:?}: the dashboard uses only =, != and =~ \"$variable\""),
    }
}

/// Checks one expression against the scrape and returns the labels its result may carry
/// (its grouping labels if it aggregates, else the labels of the samples it selects).
fn check_expr(where_: &str, expr: &str, m: &Exposition) -> (Uses, BTreeSet<String>) {
    let used = uses(expr).unwrap_or_else(|e| panic!("{where_}: {e} in {expr}"));
    assert!(!used.selectors.is_empty(), "{where_}: no metric in {expr}");
    let mut carried = BTreeSet::new();
    for (metric, matchers) in &used.selectors {
        assert!(m.samples.iter().any(|s| &s.name == metric), "{where_}: {metric} is not in /metrics");
        let selected: Vec<&Sample> = m
            .samples
            .iter()
            .filter(|s| &s.name == metric)
            .filter(|s| matchers.iter().filter(|x| !SCRAPE_LABELS.contains(&x.label.as_str())).all(|x| passes(s, x)))
            .collect();
        assert!(!selected.is_empty(), "{where_}: no series {metric}{matchers:?}");
        for x in matchers.iter().filter(|x| SCRAPE_LABELS.contains(&x.label.as_str())) {
            assert_eq!(x.op, "=~", "{where_}: {x:?}");
        }
        carried.extend(selected.iter().flat_map(|s| s.labels.keys().cloned()));
    }
    for label in &used.grouping {
        assert!(
            SCRAPE_LABELS.contains(&label.as_str()) || carried.contains(label),
            "{where_}: groups by {label}, which no selected series carries ({carried:?})"
        );
    }
    let result_labels = if used.grouping.is_empty() {
        carried.into_iter().chain(SCRAPE_LABELS.iter().map(|l| l.to_string())).collect()
    } else {
        used.grouping.iter().cloned().collect()
    };
    (used, result_labels)
}

/// The `{{label}}` names in a legend format.
fn legend_labels(format: &str) -> Vec<String> {
    format
        .split("{{")
        .skip(1)
        .map(|part| part.split_once("}}").map_or(part, |(name, _)| name).trim().to_string())
        .collect()
}

#[test]
fn the_promql_extraction_finds_metrics_matchers_labels_and_refuses_unknown_functions() {
    let used = uses(r#"histogram_quantile(0.99, sum by (action, le) (rate(redrive_x{a="1", b=~"$v"}[$__rate_interval]))) / redrive_y > bool 1e3"#)
        .expect("parses");
    assert_eq!(used.functions, ["histogram_quantile", "sum", "rate"]);
    assert_eq!(used.grouping, ["action", "le"]);
    let names: Vec<&str> = used.selectors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["redrive_x", "redrive_y"]);
    assert_eq!(
        used.selectors[0].1,
        [
            Matcher { label: "a".into(), op: "=".into(), value: "1".into() },
            Matcher { label: "b".into(), op: "=~".into(), value: "$v".into() }
        ]
    );
    assert_eq!(uses("rated(redrive_x)"), Err("unknown function rated".to_string()));
    assert!(uses(r#"{__name__="redrive_x"}"#).is_err(), "a selector without a name is not checked, so refused");
    assert_eq!(legend_labels("{{queue}} → {{ status }} x"), ["queue", "status"]);
}

#[tokio::test]
async fn every_series_the_grafana_dashboard_queries_is_in_a_live_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).expect("docs/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");

    // Traffic that makes every family appear: a queue with a DLQ, a dead-lettered message,
    // an error, and a move task back to the source.
    let h = Harness::start().await;
    let dlq = h.create_queue("dash-dlq").await;
    let source = h.create_queue_with("dash-source", &[("RedrivePolicy", &redrive_policy("dash-dlq", 1))]).await;
    h.send(&source, "poison").await;
    for _ in 0..2 {
        h.client.receive_message().queue_url(&source).visibility_timeout(0).send().await.expect("receive");
    }
    assert_eq!(h.counts(&dlq).await.0, 1, "the message is dead-lettered");
    h.client.get_queue_url().queue_name("dash-missing").send().await.expect_err("no such queue");
    h.client.start_message_move_task().source_arn(arn("dash-dlq")).send().await.expect("start move task");
    let m = scrape(&h).await;
    assert!(m.samples.iter().any(|s| s.name == "redrive_move_task_messages_moved"), "the task is in /metrics");

    // A Prometheus data-source variable, used by every panel and query variable.
    let variables = dashboard["templating"]["list"].as_array().expect("templating.list");
    let source_var = variables.iter().find(|v| v["type"] == "datasource").expect("a data-source variable");
    assert_eq!(source_var["query"], "prometheus");
    let data_source = format!("${{{}}}", source_var["name"].as_str().expect("its name"));
    let names: BTreeSet<String> =
        variables.iter().filter_map(|v| v["name"].as_str()).map(|n| format!("${n}")).collect();

    for var in variables.iter().filter(|v| v["type"] == "query") {
        let name = var["name"].as_str().expect("variable name");
        assert_eq!(var["datasource"]["uid"], data_source.as_str(), "variable {name}");
        let query = var["query"]["query"].as_str().expect("variable query");
        let inner = query.strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')).expect("label_values(…)");
        let (selector, label) = inner.rsplit_once(',').expect("label_values(selector, label)");
        let (_, labels) = check_expr(&format!("variable {name}"), selector, &m);
        assert!(labels.contains(label.trim()), "variable {name}: no series carries {label}");
    }

    let mut panels: Vec<&serde_json::Value> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    let mut metrics_used = BTreeSet::new();
    let mut functions_used = BTreeSet::new();
    let mut titles = Vec::new();
    for panel in panels.into_iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().expect("panel title");
        titles.push(title);
        assert_eq!(panel["datasource"]["uid"], data_source.as_str(), "panel {title}");
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty()).expect("targets");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            for var in expr.split('$').skip(1).map(|v| v.split(|c: char| !is_ident(c)).next().unwrap_or("")) {
                assert!(var.starts_with("__") || names.contains(&format!("${var}")), "{title}: unknown ${var}");
            }
            let (used, labels) = check_expr(&format!("panel {title}"), expr, &m);
            let legend = target["legendFormat"].as_str().unwrap_or("");
            for label in legend_labels(legend) {
                assert!(labels.contains(&label), "{title}: the legend shows {label}, which {expr} does not keep");
            }
            metrics_used.extend(used.selectors.into_iter().map(|(n, _)| n));
            functions_used.extend(used.functions);
        }
    }

    // The families the dashboard exists to show.
    for metric in [
        "redrive_queue_messages_visible",
        "redrive_queue_messages_in_flight",
        "redrive_queue_messages_delayed",
        "redrive_queue_oldest_message_age_seconds",
        "redrive_queue_messages_dead_lettered_total",
        "redrive_move_task_messages_moved",
        "redrive_move_task_messages_to_move",
        "redrive_requests_total",
        "redrive_request_duration_seconds_bucket",
    ] {
        assert!(metrics_used.contains(metric), "no panel shows {metric}");
    }
    assert!(functions_used.contains("histogram_quantile"), "latency quantiles");
    assert!(titles.iter().any(|t| t.contains("Errors by code")), "{titles:?}");
}
