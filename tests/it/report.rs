//! What a comparison leaves for people and for the next comparison: the Markdown export, the
//! machine facts in results.json, `concur diff` on two result files, a table that fits a
//! 100-column terminal, and one run printed as one value. No timing assertions: `diff` is fed
//! wall times written into the files, so each verdict is known in advance.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn concur() -> Command {
    let mut cmd = Command::cargo_bin("concur").unwrap();
    cmd.env_remove("CONCUR_TEST_FAIL")
        .env_remove("CONCUR_TEST_SKIP")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    cmd
}

/// A fast comparison of three in-process strategies into `dir`; its stdout.
fn quick(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = concur();
    cmd.args([
        "compare",
        "-s",
        "sequential,pool,threads",
        "--preset",
        "quick",
        "--items",
        "4",
        "--repeat",
        "2",
        "--no-probe",
        "--out",
    ])
    .arg(dir)
    .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_markdown_export_has_every_column_the_machine_and_the_caveats() {
    let tmp = tempfile::tempdir().unwrap();
    let md_path = tmp.path().join("table.md");
    let md_arg = md_path.to_str().unwrap().to_owned();
    quick(
        &tmp.path().join("r"),
        &["--runs", "2", "--warmup", "2", "--export-markdown", &md_arg],
        &[],
    );
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert_eq!(
        md,
        std::fs::read_to_string(tmp.path().join("r/results.md")).unwrap(),
        "the same document beside the report"
    );
    assert!(md.starts_with("## concur compare: emoji\n"), "{md}");
    assert!(md.contains("2 runs each after 2 warm-ups"), "{md}");
    let header = md.lines().find(|l| l.starts_with("| STRATEGY")).unwrap();
    for column in [
        "WALL median ± σ",
        "MIN-MAX",
        "PEAK RSS",
        "PEAK PSS",
        "CHECK",
        "PAR",
    ] {
        assert!(header.contains(column), "{column} in {header}");
    }
    let columns = header.matches('|').count() - 1;
    let align = md.lines().find(|l| l.starts_with("| :---")).unwrap();
    assert_eq!(align.matches('|').count() - 1, columns, "{align}");
    for name in ["sequential", "pool", "threads"] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("{name} row in {md}"));
        assert_eq!(row.matches('|').count() - 1, columns, "{row}");
        assert!(row.contains(" ± ") && row.contains(" | ok |"), "{row}");
    }
    assert!(
        md.contains("Measured on ") && md.contains("with `concur compare"),
        "{md}"
    );
    assert!(md.contains("- per worker = "), "footnotes as a list: {md}");

    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("r/results.json")).unwrap())
            .unwrap();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["config"]["warmups"], 2);
    let started = doc["started_at"].as_str().unwrap();
    assert!(started.len() == 20 && started.ends_with('Z'), "{started}");
    let m = &doc["machine"];
    assert!(!m["hostname"].as_str().unwrap().is_empty(), "{m}");
    assert!(!m["os"].as_str().unwrap().is_empty(), "{m}");
    assert!(m["load_average"]["one"].as_f64().unwrap() >= 0.0, "{m}");
    assert_eq!(m["pss_available"], true);
    // Built from this checkout, so the commit is known.
    let commit = m["git_commit"].as_str().unwrap_or("");
    assert_eq!(commit.len(), 40, "{m}");
    let s = &doc["points"][0]["strategies"][0]["summary"];
    assert!(s["wall_stddev_s"].as_f64().unwrap() >= 0.0, "{s}");
}

#[test]
fn a_single_run_is_one_value_without_a_warm_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let out = quick(&dir, &["--runs", "1"], &[]);
    assert!(out.contains("1 run each, no warm-up"), "{out}");
    let row = out.lines().find(|l| l.starts_with("pool ")).unwrap();
    assert!(!row.contains('±') && !row.contains('('), "one value: {row}");
    let header = out.lines().find(|l| l.starts_with("STRATEGY")).unwrap();
    assert!(
        header.contains(" WALL ") && !header.contains("MIN-MAX"),
        "{header}"
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(doc["config"]["warmups"], 0);
    assert_eq!(
        doc["runs"].as_array().unwrap().len(),
        3,
        "one run each, nothing else"
    );
}

#[test]
fn the_compare_table_fits_100_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = quick(&tmp.path().join("w"), &[], &[]);
    let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(
        widest(&wide) > 100,
        "without a width nothing is cut:\n{wide}"
    );
    let out = quick(&tmp.path().join("n"), &[], &[("COLUMNS", "100")]);
    for line in out.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    let header = out.lines().find(|l| l.starts_with("STRATEGY")).unwrap();
    for kept in [
        "WORKERS",
        "WALL median ± σ",
        "PEAK RSS",
        "PEAK PSS",
        "CHECK",
        "CRASH",
        "HANG",
    ] {
        assert!(header.contains(kept), "{kept} kept: {header}");
    }
    assert!(!header.contains("PAR"), "PAR is the first to go: {header}");
    assert!(out.contains("--wide shows every column"), "{out}");
    for name in ["sequential", "pool", "threads"] {
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with(&format!("{name} ")))
                .count(),
            1,
            "{name}: one line, not wrapped:\n{out}"
        );
    }
    let all = quick(&tmp.path().join("a"), &["--wide"], &[("COLUMNS", "100")]);
    let header = all.lines().find(|l| l.starts_with("STRATEGY")).unwrap();
    assert!(
        header.contains("PAR") && header.contains("MIN-MAX"),
        "{header}"
    );
}

/// Set every measured wall of `strategy` in a results.json to `walls`, in order.
fn set_walls(doc: &mut Value, strategy: &str, walls: &[f64]) {
    let runs = doc["runs"].as_array_mut().unwrap();
    let mine: Vec<&mut Value> = runs
        .iter_mut()
        .filter(|r| r["strategy"] == strategy)
        .collect();
    assert_eq!(mine.len(), walls.len(), "{strategy}");
    for (run, wall) in mine.into_iter().zip(walls) {
        run["measurement"]["wall_s"] = (*wall).into();
    }
}

#[test]
fn diff_says_faster_slower_or_within_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    quick(&dir, &["--runs", "3"], &[]);
    let mut a: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let mut b = a.clone();
    set_walls(&mut a, "sequential", &[0.100, 0.101, 0.099]);
    set_walls(&mut b, "sequential", &[0.050, 0.051, 0.049]);
    set_walls(&mut a, "pool", &[0.100, 0.101, 0.099]);
    set_walls(&mut b, "pool", &[0.200, 0.210, 0.190]);
    set_walls(&mut a, "threads", &[0.070, 0.100, 0.130]);
    set_walls(&mut b, "threads", &[0.080, 0.110, 0.140]);
    let (pa, pb) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    std::fs::write(&pa, a.to_string()).unwrap();
    std::fs::write(&pb, b.to_string()).unwrap();
    let out = concur().arg("diff").arg(&pa).arg(&pb).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .to_owned()
    };
    assert!(row("sequential").contains("0.50x  faster"), "{text}");
    assert!(row("pool").contains("2.00x  slower"), "{text}");
    assert!(row("threads").contains("within noise"), "{text}");
    assert!(text.contains("A: ") && text.contains("B: "), "{text}");

    // A file written before results.json had a schema still compares.
    a.as_object_mut().unwrap().remove("schema");
    std::fs::write(&pa, a.to_string()).unwrap();
    let out = concur().arg("diff").arg(&pa).arg(&pb).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("(schema 0)"));

    // Not a results file: one line, exit 2.
    std::fs::write(&pa, "{\"hello\": 1}").unwrap();
    let out = concur().arg("diff").arg(&pa).arg(&pb).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is not a concur compare results.json"),
        "{err}"
    );
}

#[test]
fn every_strategy_keeps_its_colour_in_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    quick(&dir, &["--runs", "1"], &[]);
    let time = std::fs::read_to_string(dir.join("time.svg")).unwrap();
    let memory = std::fs::read_to_string(dir.join("memory.svg")).unwrap();
    // sequential grey, pool green, threads orange, in both.
    for fill in ["#7F7F7F", "#2CA02C", "#FF7F0E"] {
        assert!(
            time.to_uppercase().contains(fill) && memory.to_uppercase().contains(fill),
            "{fill}"
        );
    }
    // No text under 12 px.
    for svg in [&time, &memory] {
        let doc = roxmltree::Document::parse(svg).unwrap();
        for node in doc.descendants().filter(|n| n.has_tag_name("text")) {
            if let Some(size) = node.attribute("font-size") {
                let px: f64 = size.trim_end_matches("px").parse().unwrap();
                assert!(px >= 12.0, "{px} px: {:?}", node.text());
            }
        }
    }
}

#[test]
fn what_list_claims_is_what_the_probes_measure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    let out = concur()
        .args([
            "compare", "--preset", "quick", "--items", "2", "--repeat", "1", "--runs", "1", "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let strategies = doc["points"][0]["strategies"].as_array().unwrap();
    let mut checked = 0;
    for s in doc["safety"].as_array().unwrap() {
        let name = s["strategy"].as_str().unwrap();
        let props = &strategies.iter().find(|x| x["strategy"] == name).unwrap()["props"];
        for (probe, claim) in [("crash", "survives_crash"), ("hang", "kills_hung")] {
            let result = s[probe]["result"].as_str().unwrap();
            if result == "not-probed" {
                continue;
            }
            assert_eq!(
                result == "survived",
                props[claim].as_bool().unwrap(),
                "{name}: list says {claim} = {}, the {probe} probe found: {}",
                props[claim],
                s[probe]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "most strategies probed: {checked}");
}
