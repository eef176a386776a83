//! SQL queries run by `daphne` and by SQLite (Python's `sqlite3`) on the same data: the same
//! rows must come out. Rows are compared as multisets (SQLite leaves the order of groups and
//! join results open), and in order where the query has an `ORDER BY` that decides it. Cells
//! are compared as DAPHNE prints them (`%g` for floats). Skipped with a message where
//! `python3` with `sqlite3` is missing.
//!
//! NULL: frames have none, so a LEFT JOIN leaves the right columns of a row without a match
//! missing as NaN (numbers; integer columns become `double`) or as the empty string (strings).
//! SQLite gives NULL there, which Python reads as `None` and JSON carries as `null`; each
//! `null` cell must be, in our frame, `nan` when our column is a number and empty when it is
//! a string (`expected_cell`), and no other cell of SQLite's may be `null`. The data hold no
//! NaN, so our `nan` means missing.

mod common;

use std::process::Command;

use common::check;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

/// The views: name, column labels, columns (DaphneDSL literals).
const VIEWS: &[(&str, &[&str], &[&str])] = &[
    (
        "f",
        &["k", "s", "x", "n"],
        &[
            "[2, 1, 2, 3, 1, 2, 4]",
            "[\"b\", \"a\", \"b\", \"a\", \"A\", \"c\", \"dA\"]",
            "[1.5, 2.0, 3.5, 4.0, 0.5, 1.0, 2.25]",
            "[10, 20, 30, 40, 50, 60, 70]",
        ],
    ),
    ("g", &["k", "w"], &["[1, 2, 2, 5]", "[0.5, 1.5, 2.5, 3.5]"]),
    ("t", &["k", "label"], &["[1, 3, 3, 6]", "[\"a\", \"three\", \"b\", \"six\"]"]),
];

/// Queries, and whether their row order is decided by the query.
const QUERIES: &[(&str, bool)] = &[
    ("SELECT f.k, f.s FROM f WHERE f.x > 1.5 AND f.s <> 'c'", false),
    ("SELECT f.n * 2 + 1, f.x * f.n, f.n / 3, f.n % 7, -f.x FROM f", false),
    ("SELECT f.s FROM f WHERE f.s >= 'b' OR f.n BETWEEN 15 AND 45", false),
    ("SELECT f.k FROM f WHERE f.s IN ('a', 'd') AND NOT f.k = 3", false),
    ("SELECT f.k, f.s FROM f WHERE f.s LIKE '%a%' OR f.s NOT LIKE '_'", false),
    ("SELECT f.k, sum(f.n), count(f.n), avg(f.x), min(f.x), max(f.s) FROM f GROUP BY f.k", false),
    ("SELECT f.s, f.k, sum(f.x) FROM f GROUP BY f.s, f.k HAVING count(*) >= 1", false),
    ("SELECT f.s, COUNT(*) FROM f GROUP BY f.s HAVING sum(f.n) > 50", false),
    ("SELECT sum(f.n), avg(f.x), min(f.s), max(f.n), count(*) FROM f", false),
    ("SELECT f.k, sum(f.x * f.n) FROM f WHERE f.n > 10 GROUP BY f.k", false),
    ("SELECT DISTINCT f.k, f.s FROM f", false),
    ("SELECT f.k % 2 AS parity, count(*), sum(f.x) FROM f GROUP BY parity", false),
    ("SELECT f.n / 20, max(f.s) FROM f GROUP BY f.n / 20 HAVING count(*) > 1", false),
    ("SELECT f.n, g.w FROM f JOIN g ON f.k = g.k", false),
    ("SELECT f.n, g.w FROM f JOIN g ON f.k = g.k AND f.x > g.w", false),
    ("SELECT f.n, g.k FROM f JOIN g ON f.k < g.k", false),
    ("SELECT f.n, g.w FROM f, g WHERE f.k <> g.k AND g.w > 2", false),
    ("SELECT g.k, sum(f.n) AS total FROM f JOIN g ON f.k = g.k GROUP BY g.k", false),
    ("SELECT CASE WHEN f.n < 30 THEN 'low' ELSE 'high' END AS level, f.n FROM f", false),
    ("SELECT f.n, f.s FROM f ORDER BY f.n DESC LIMIT 3", true),
    ("SELECT f.s, f.n FROM f ORDER BY f.s, f.n DESC LIMIT 4 OFFSET 1", true),
    ("SELECT f.k, sum(f.n) AS t FROM f GROUP BY f.k ORDER BY t DESC, f.k", true),
    ("SELECT f.s FROM f ORDER BY f.x DESC", true),
    ("SELECT f.k FROM f GROUP BY f.k ORDER BY max(f.x), f.k", true),
    ("SELECT f.k, f.n, g.w, g.k FROM f LEFT JOIN g ON f.k = g.k", false),
    ("SELECT f.*, g.* FROM f LEFT OUTER JOIN g ON g.k = f.k", false),
    ("SELECT f.n, t.label, t.k FROM f LEFT JOIN t ON f.k = t.k", false),
    ("SELECT f.k, f.s FROM f LEFT JOIN g ON f.k = g.k WHERE g.k IS NULL", false),
    ("SELECT f.s, g.w FROM f LEFT JOIN g ON f.k = g.k WHERE g.w IS NOT NULL AND f.n > 20", false),
    ("SELECT f.k, g.k IS NULL, t.label IS NOT NULL FROM f LEFT JOIN g ON f.k = g.k LEFT JOIN t ON f.k = t.k", false),
    ("SELECT f.k, count(*) FROM f LEFT JOIN g ON f.k = g.k GROUP BY f.k", false),
    ("SELECT g.k IS NULL AS unmatched, count(*), sum(f.n) FROM f LEFT JOIN g ON f.k = g.k GROUP BY unmatched", false),
    ("SELECT f.k, sum(CASE WHEN g.k IS NULL THEN 0 ELSE 1 END) FROM f LEFT JOIN g ON f.k = g.k GROUP BY f.k", false),
    ("SELECT f.n, g.w FROM f LEFT JOIN g ON f.k = g.k AND g.w > 2", false),
    ("SELECT f.n, t.label FROM f LEFT JOIN t ON f.k = t.k AND f.s = t.label", false),
    ("SELECT f.s, t.k FROM f LEFT JOIN t ON f.s = t.label WHERE f.x > 1", false),
    ("SELECT f.n, t.label FROM f LEFT JOIN t ON f.k = t.k WHERE t.k IS NULL ORDER BY f.n DESC", true),
];

/// Our output frames: whether each column holds strings (from the header), and the rows.
fn our_rows(out: &str) -> Vec<(Vec<bool>, Vec<Vec<String>>)> {
    let mut results = Vec::new();
    for line in out.lines() {
        if let Some(header) = line.strip_prefix("Frame(") {
            let strings = header
                .split(", ")
                .skip(1)
                .map(|c| c.trim_end_matches("])").ends_with(":std::string"))
                .collect::<Vec<_>>();
            results.push((strings, Vec::new()));
        } else if let Some((_, rows)) = results.last_mut() {
            rows.push(line.split(' ').map(str::to_owned).collect());
        }
    }
    results
}

/// SQLite's cell as we must print it: NULL (`None`) is what a missing cell is in our column,
/// the empty string in a column of strings, else NaN.
fn expected_cell(cell: Option<String>, string_column: bool) -> String {
    match cell {
        Some(c) => c,
        None if string_column => String::new(),
        None => "nan".to_owned(),
    }
}

#[test]
fn sql_results_agree_with_sqlite() {
    let python = Command::new("python3").args(["-c", "import sqlite3"]).output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no python3 with sqlite3");
        return;
    }
    // One script with every query.
    let mut script = String::new();
    for (name, labels, cols) in VIEWS {
        let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        script.push_str(&format!(
            "registerView(\"{name}\", createFrame({}, {}));\n",
            cols.join(", "),
            labels.join(", ")
        ));
    }
    for (q, _) in QUERIES {
        script.push_str(&format!("print(sql(\"{q};\"));\n"));
    }
    let dir = std::env::temp_dir().join(format!("daphne-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join("queries.daph");
    std::fs::write(&path, &script).expect("script written");
    let ours = check(DAPHNE, &[path.to_str().expect("path")]);
    assert_eq!(ours.status, 0, "{}", ours.stderr);
    let ours = our_rows(&ours.stdout);
    assert_eq!(ours.len(), QUERIES.len(), "one frame per query");

    // The same views and queries in SQLite, printed cell by cell as DAPHNE prints them.
    let mut py = String::from(
        "import sqlite3, json\ndb = sqlite3.connect(':memory:')\ndb.execute('PRAGMA case_sensitive_like = ON')\n\
         cell = lambda v: None if v is None else ('%g' % v) if isinstance(v, float) else str(v)\n",
    );
    for (name, labels, cols) in VIEWS {
        py.push_str(&format!("cols = [{}]\n", cols.join(", ")));
        py.push_str(&format!("db.execute('CREATE TABLE {name} ({})')\n", labels.join(", ")));
        let marks = vec!["?"; labels.len()].join(", ");
        py.push_str(&format!("db.executemany('INSERT INTO {name} VALUES ({marks})', list(zip(*cols)))\n"));
    }
    py.push_str("out = []\n");
    for (q, _) in QUERIES {
        py.push_str(&format!("out.append([[cell(v) for v in r] for r in db.execute(\"{q}\")])\n"));
    }
    py.push_str("print(json.dumps(out))\n");
    let theirs = Command::new("python3").args(["-c", &py]).output().expect("python3 runs");
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let theirs: Vec<Vec<Vec<Option<String>>>> = serde_json::from_slice(&theirs.stdout).expect("SQLite's rows as JSON");
    let _ = std::fs::remove_dir_all(&dir);

    let mut failures = Vec::new();
    for (((q, ordered), (strings, mut a)), b) in QUERIES.iter().zip(ours).zip(theirs) {
        let mut b: Vec<Vec<String>> = b
            .into_iter()
            .map(|row| {
                row.into_iter().enumerate().map(|(i, c)| expected_cell(c, strings.get(i) == Some(&true))).collect()
            })
            .collect();
        if !ordered {
            a.sort();
            b.sort();
        }
        if a != b {
            failures.push(format!("{q}\n  daphne: {a:?}\n  sqlite: {b:?}"));
        }
    }
    assert!(failures.is_empty(), "{} queries differ from SQLite:\n{}", failures.len(), failures.join("\n"));
}
