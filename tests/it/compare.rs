//! `concur compare` through the binary: the report files it writes, the table it prints, and how
//! it treats strategies that fail or cannot run. No timing assertions: only shapes and contents.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn concur() -> Command {
    let mut cmd = Command::cargo_bin("concur").unwrap();
    cmd.env_remove("CONCUR_TEST_FAIL")
        .env_remove("CONCUR_TEST_SKIP");
    cmd
}

/// Run `concur compare ARGS --out DIR --no-probe`; (exit code, stdout, stderr). The probes are
/// tested on their own (`compare_probed`): each costs two short runs per strategy.
fn compare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut args = args.to_vec();
    if !args.contains(&"--no-probe") {
        args.push("--no-probe");
    }
    compare_probed(dir, &args, env)
}

/// Run `concur compare ARGS --out DIR`, probes and all.
fn compare_probed(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = concur();
    cmd.arg("compare").args(args).arg("--out").arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn json(dir: &Path) -> Value {
    serde_json::from_str(&read(dir, "results.json")).expect("results.json is valid JSON")
}

/// Parse an SVG as XML; panics with the parser's complaint if it is not well formed.
fn assert_svg(text: &str, what: &str) -> usize {
    let doc = roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("{what} is not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{what}");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "circle")
        .count()
}

/// The lines of stdout's table that start with a strategy name.
fn table_rows<'a>(stdout: &'a str, name: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(name))
        .collect()
}

#[test]
fn writes_every_file_with_one_row_per_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let names = ["sequential", "threads", "pool", "fork"];
    let (code, stdout, stderr) = compare(
        &dir,
        &[
            "--runs",
            "1",
            "-s",
            "sequential,threads,pool,fork",
            "--preset",
            "quick",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");

    // The table lists all four, measured and correct.
    for name in names {
        let rows = table_rows(&stdout, name);
        assert!(!rows.is_empty(), "{name} missing from the table:\n{stdout}");
        assert!(rows[0].contains(" ok "), "{name} row: {}", rows[0]);
    }
    assert!(stdout.contains("time (median wall)"), "{stdout}");
    assert!(stdout.contains("memory (median peak"), "{stdout}");

    // JSON: machine facts, one run per strategy, each a full measurement.
    let doc = json(&dir);
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(doc["machine"]["mem_total_bytes"].as_u64().unwrap() > 0);
    assert!(!doc["machine"]["kernel"].as_str().unwrap().is_empty());
    assert_eq!(doc["machine"]["concur_version"], env!("CARGO_PKG_VERSION"));
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        4,
        "one row per measured run (warm-ups excluded)"
    );
    for (run, name) in runs.iter().zip(names) {
        assert_eq!(run["strategy"], name);
        assert_eq!(run["status"], "ok");
        assert_eq!(run["measurement"]["correct"], true);
        assert!(run["measurement"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    }
    let cells = doc["points"][0]["strategies"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|c| c["status"] == "ok"));
    let fork = &cells[3];
    assert_eq!(fork["props"]["memory"], "isolated");
    assert_eq!(fork["safety_score"], 3);
    assert_eq!(cells[1]["safety_score"], 0, "threads share everything");
    assert!(
        doc["ratios"].as_array().unwrap().is_empty(),
        "no app, no ratio"
    );

    // CSV: a header and one row per run, machine facts on each.
    let csv = read(&dir, "results.csv");
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4, "{csv}");
    let header: Vec<_> = lines[0].split(',').collect();
    for col in [
        "strategy",
        "run",
        "wall_s",
        "peak_rss_bytes",
        "peak_pss_bytes",
        "cores",
        "mem_total_bytes",
        "kernel",
        "concur_version",
    ] {
        assert!(header.contains(&col), "no {col} column in {}", lines[0]);
    }
    let strategy_col = header.iter().position(|c| *c == "strategy").unwrap();
    for (line, name) in lines[1..].iter().zip(names) {
        assert_eq!(line.split(',').nth(strategy_col), Some(name), "{line}");
    }

    // SVGs: well-formed, naming every strategy. No sweep, no sweep.svg.
    for file in ["time.svg", "memory.svg", "tradeoff.svg"] {
        let svg = read(&dir, file);
        assert_svg(&svg, file);
        for name in names {
            assert!(svg.contains(name), "{file} does not name {name}");
        }
    }
    assert!(!dir.join("sweep.svg").exists());

    // HTML: one page, every figure inlined (and each well-formed), every strategy named.
    let html = read(&dir, "report.html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "self-contained"
    );
    let inlined: Vec<_> = html.match_indices("<svg").map(|(i, _)| i).collect();
    assert_eq!(inlined.len(), 3, "time, memory and tradeoff inlined");
    for start in inlined {
        let end = html[start..].find("</svg>").unwrap() + start + "</svg>".len();
        assert_svg(&html[start..end], "an inlined SVG");
    }
    for name in names {
        assert!(
            html.contains(&format!("<td>{name}</td>")),
            "{name} not in the HTML table"
        );
    }
    // The table has 15 columns: it scrolls inside its own box rather than off the page.
    assert_eq!(
        html.matches("<div class=\"scroll\">\n<table>").count(),
        html.matches("<table>").count(),
        "every table in a scroll box"
    );
}

#[test]
fn a_sweep_plots_every_point_of_every_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, stdout, stderr) = compare(
        dir,
        &[
            "--runs",
            "1",
            "-s",
            "sequential,pool",
            "--sweep",
            "workers=1,3",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("workers=1") && stdout.contains("workers=3"),
        "{stdout}"
    );

    let doc = json(dir);
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "2 strategies x 2 points x 1 run");
    let workers = |name: &str| -> Vec<u64> {
        runs.iter()
            .filter(|r| r["strategy"] == name)
            .map(|r| r["measurement"]["workers"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        workers("pool"),
        vec![1, 3],
        "pool takes the swept worker count"
    );
    assert_eq!(
        workers("sequential"),
        vec![1, 1],
        "sequential fixes its own"
    );

    let svg = read(dir, "sweep.svg");
    let circles = assert_svg(&svg, "sweep.svg");
    // A dot per strategy per point, in each of the three panels (wall, RSS, PSS).
    assert_eq!(circles, 3 * 2 * 2, "dots in sweep.svg");
    assert!(svg.contains("pool") && svg.contains("sequential"));
    assert!(read(dir, "report.html").matches("<svg").count() == 4);
}

#[test]
fn a_failing_and_a_skipped_strategy_do_not_stop_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, stdout, stderr) = compare(
        dir,
        &["--runs", "2", "-s", "sequential,threads,pool"],
        &[
            ("CONCUR_TEST_FAIL", "threads"),
            ("CONCUR_TEST_SKIP", "pool"),
        ],
    );
    assert_eq!(code, 0, "the report was written: success. stderr: {stderr}");

    let threads = table_rows(&stdout, "threads");
    assert!(
        threads[0].contains("FAILED") && threads[0].contains("on purpose"),
        "{stdout}"
    );
    let pool = table_rows(&stdout, "pool");
    assert!(pool[0].contains("skipped"), "{stdout}");
    assert!(
        table_rows(&stdout, "sequential")[0].contains(" ok "),
        "{stdout}"
    );

    let doc = json(dir);
    let cells = doc["points"][0]["strategies"].as_array().unwrap();
    let status = |name: &str| {
        cells.iter().find(|c| c["strategy"] == name).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("sequential"), "ok");
    assert_eq!(status("threads"), "failed");
    assert_eq!(status("pool"), "skipped");
    let runs = doc["runs"].as_array().unwrap();
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "threads' failed warm-up is recorded once");
    assert!(failed[0]["error"].as_str().unwrap().contains("on purpose"));
    assert_eq!(runs.iter().filter(|r| r["status"] == "ok").count(), 2);
    assert_eq!(read(dir, "results.csv").lines().count(), 1 + 3);

    for file in ["time.svg", "memory.svg", "tradeoff.svg"] {
        let svg = read(dir, file);
        assert_svg(&svg, file);
        for name in ["sequential", "threads", "pool"] {
            assert!(svg.contains(name), "{file} does not name {name}");
        }
    }
    let html = read(dir, "report.html");
    assert!(html.contains("FAILED") && html.contains("skipped"));
}

#[test]
fn workers_are_not_passed_to_strategies_that_fix_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = compare(
        tmp.path(),
        &[
            "--runs",
            "1",
            "-s",
            "threads,pool",
            "--workers",
            "2",
            "--preset",
            "quick",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        table_rows(&stdout, "threads")[0].contains(" 51* "),
        "{stdout}"
    );
    assert!(
        stdout.contains("--workers is not passed to them"),
        "{stdout}"
    );
    let doc = json(tmp.path());
    let cells = doc["points"][0]["strategies"].as_array().unwrap();
    assert_eq!(cells[0]["workers_fixed"], true);
    assert_eq!(cells[1]["summary"]["workers"], 2);
}

#[test]
fn the_wallet_race_shows_as_wrong_not_as_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = compare(
        tmp.path(),
        &[
            "--runs",
            "1",
            "-w",
            "wallet",
            "-s",
            "sequential,pool",
            "--sync",
            "none",
            "--items",
            "200",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    // sequential cannot race; pool with the racy account usually does, but need not: only the
    // baseline's correctness is certain.
    assert!(
        table_rows(&stdout, "sequential")[0].contains(" ok "),
        "{stdout}"
    );
    let doc = json(tmp.path());
    assert_eq!(doc["runs"].as_array().unwrap().len(), 2);
    assert!(doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "ok"));
}

#[test]
fn nothing_writable_is_an_error_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (code, stdout, stderr) = compare(
        &file.join("report"),
        &["--runs", "1", "-s", "sequential"],
        &[],
    );
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stderr.contains("cannot create --out"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(stdout.is_empty(), "no table when nothing can be written");
}

#[test]
fn usage_mistakes_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["-s", "sequential,nope"][..],
        &["--sweep", "workers=1,2", "--workers", "4"],
        &["--sweep", "cores=1,2"],
        &["--sync", "mutex"], // emoji has no wallet to protect: no strategy can run this
        &["--runs", "0"],
    ] {
        let (code, _, stderr) = compare(tmp.path(), args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!tmp.path().join("results.json").exists(), "nothing ran");
}

#[test]
fn with_an_app_loaded_the_report_states_fork_over_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = compare(
        tmp.path(),
        &[
            "--runs",
            "1",
            "-s",
            "threads,fork",
            "--app-mb",
            "16",
            "--workers",
            "2",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("with a 16 MiB app: fork (2 workers) peaks at"),
        "{stdout}"
    );
    let doc = json(tmp.path());
    let ratios = doc["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 1);
    let r = &ratios[0];
    // Both loaded the same app: neither can be below it, and the ratio is what the medians say.
    for key in [
        "fork_rss_bytes",
        "threads_rss_bytes",
        "fork_pss_bytes",
        "threads_pss_bytes",
    ] {
        assert!(r[key].as_u64().unwrap() > 16 << 20, "{key}: {r}");
    }
    let ratio = r["fork_rss_bytes"].as_f64().unwrap() / r["threads_rss_bytes"].as_f64().unwrap();
    assert!((ratio - r["rss_ratio"].as_f64().unwrap()).abs() < 1e-9);
    assert!(read(tmp.path(), "report.html").contains("Processes versus threads"));
}

#[test]
fn noop_jobs_show_each_strategys_overhead_against_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = compare(
        dir.path(),
        &[
            "-w",
            "noop",
            "--items",
            "200",
            "--runs",
            "1",
            "-s",
            "sequential,pool,fork",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("per-job overhead"), "{stdout}");
    let floors = json(dir.path())["floors"].as_array().unwrap().clone();
    let names: Vec<_> = floors
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect();
    // sequential is built from nothing: it has no floor.
    assert_eq!(names, ["pool", "fork"]);
    for f in &floors {
        let (per_job, floor, ratio) = (
            f["per_job_s"].as_f64().unwrap(),
            f["floor_s"].as_f64().unwrap(),
            f["ratio"].as_f64().unwrap(),
        );
        assert!(per_job > 0.0 && floor > 0.0, "{f}");
        assert!(
            (ratio - per_job / floor).abs() < 1e-9 * ratio.max(1.0),
            "{f}"
        );
    }
    assert_eq!(floors[1]["floor_of"], "fork+_exit+waitpid");
}

/// The peak RSS and PSS medians of `name` at the only point of a results.json.
fn peaks(doc: &Value, name: &str) -> (f64, f64) {
    let s = doc["points"][0]["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["strategy"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {doc}"));
    let m = &s["summary"];
    (
        m["peak_rss_median_bytes"].as_f64().unwrap(),
        m["peak_pss_median_bytes"].as_f64().unwrap(),
    )
}

/// The trade-off scene, small: 4 workers each carrying a 32 MiB app, jobs that overlap (100 ms
/// sleeps, so that every child is alive when the sampler looks; a shape, not a timing).
const SMALL_SCENE: [&str; 12] = [
    "-s",
    "sequential,threads,fork,prefork",
    "--runs",
    "1",
    "--workers",
    "4",
    "--items",
    "8",
    "--app-mb",
    "32",
    "--wait-ms",
    "100",
];

#[test]
fn the_default_scene_shows_processes_costing_an_app_each_and_threads_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let (code, stdout, stderr) = compare_probed(&dir, &SMALL_SCENE, &[]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("scene 'tradeoff'"), "{stdout}");
    let doc = json(&dir);
    let (threads_rss, threads_pss) = peaks(&doc, "threads");
    for name in ["fork", "prefork"] {
        let (rss, pss) = peaks(&doc, name);
        // 4 workers, each mapping the 32 MiB app: ~5 apps of RSS against threads' one.
        assert!(
            rss >= 3.0 * threads_rss,
            "{name}: RSS {rss} vs threads {threads_rss}"
        );
        // Shared copy-on-write and never written: PSS stays near one app.
        assert!(
            pss < 1.5 * threads_pss,
            "{name}: PSS {pss} vs threads {threads_pss}"
        );
    }
    // The probes measured what each survives, and the report says so.
    let safety = doc["safety"].as_array().expect("probes ran");
    let of = |name: &str| {
        safety
            .iter()
            .find(|s| s["strategy"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("fork")["crash"]["result"], "survived", "{safety:?}");
    assert_eq!(of("fork")["hang"]["result"], "survived", "{safety:?}");
    assert_eq!(of("threads")["crash"]["result"], "failed", "{safety:?}");
    assert_eq!(of("threads")["hang"]["result"], "failed", "{safety:?}");
    assert!(stdout.contains("the trade-off"), "{stdout}");
    let fork_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("fork ") && l.contains("crash "))
        .expect("fork in the trade-off chart");
    assert!(fork_line.contains("crash ✓ hang ✓"), "{fork_line}");
}

#[test]
fn dirty_100_brings_the_forked_workers_pss_up_to_their_rss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let mut args = SMALL_SCENE.to_vec();
    args.extend(["--dirty", "100"]);
    let (code, _, stderr) = compare(&dir, &args, &[]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let doc = json(&dir);
    let (threads_rss, _) = peaks(&doc, "threads");
    for name in ["fork", "prefork"] {
        let (rss, pss) = peaks(&doc, name);
        assert!(
            pss >= 0.7 * rss,
            "{name}: PSS {pss} within 30% of RSS {rss}"
        );
        assert!(
            pss >= 3.0 * threads_rss,
            "{name}: each worker pays for its copy"
        );
    }
    assert_eq!(doc["config"]["dirty_pct"], 100);
    assert!(doc["safety"].as_array().unwrap().is_empty(), "--no-probe");
}

/// Every `<text>` of an SVG as a box (x0, y0, x1, y1), estimated the way a browser would lay it
/// out in a sans-serif font: ~0.6 em per character, from the baseline 0.8 em up and 0.2 down.
fn text_boxes(svg: &str) -> Vec<(String, [f64; 4])> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter(|n| n.attribute("transform").is_none()) // rotated axis titles stand apart
        .filter_map(|n| {
            let content: String = n.children().filter_map(|c| c.text()).collect();
            let content = content.trim().to_owned();
            if content.is_empty() {
                return None;
            }
            let size = num(&n, "font-size").unwrap_or(12.0);
            let dy = match n.attribute("dy") {
                Some(d) if d.ends_with("em") => {
                    d.trim_end_matches("em").parse().unwrap_or(0.0) * size
                }
                Some(d) if d.ends_with("ex") => {
                    d.trim_end_matches("ex").parse::<f64>().unwrap_or(0.0) * size / 2.0
                }
                _ => 0.0,
            };
            let base = num(&n, "y")? + dy;
            let w = content.chars().count() as f64 * 0.6 * size;
            let x = num(&n, "x")?;
            let x0 = match n.attribute("text-anchor") {
                Some("end") => x - w,
                Some("middle") => x - w / 2.0,
                _ => x,
            };
            Some((content, [x0, base - 0.8 * size, x0 + w, base + 0.2 * size]))
        })
        .collect()
}

#[test]
fn no_two_labels_of_any_report_figure_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let (code, _, stderr) = compare(
        &dir,
        &[
            "--runs",
            "1",
            "--items",
            "8",
            "--app-mb",
            "8",
            "--sweep",
            "workers=1,2",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    for name in ["tradeoff.svg", "time.svg", "memory.svg", "sweep.svg"] {
        let boxes = text_boxes(&read(&dir, name));
        assert!(boxes.len() > 5, "{name} has labels");
        for (i, (a, ra)) in boxes.iter().enumerate() {
            for (b, rb) in &boxes[i + 1..] {
                let w = ra[2].min(rb[2]) - ra[0].max(rb[0]);
                let h = ra[3].min(rb[3]) - ra[1].max(rb[1]);
                assert!(
                    w <= 1.0 || h <= 1.0,
                    "{name}: '{a}' {ra:?} overlaps '{b}' {rb:?}"
                );
            }
        }
    }
}
