//! Help for a user who calls a function the compiler does not know: hints for the names
//! people bring from NumPy, R or pandas, and otherwise the closest known names by edit
//! distance (the built-ins and the script's own functions).

/// Function names from other languages (and common slips), with what DaphneDSL writes
/// instead. Axis 0 aggregates each row, axis 1 each column.
const FOREIGN: &[(&[&str], &str)] = &[
    (&["colMeans", "colmeans", "col_means"], "the mean of each column is `mean(X, 1)`"),
    (&["rowMeans", "rowmeans", "row_means"], "the mean of each row is `mean(X, 0)`"),
    (&["colSums", "colsums", "col_sums"], "the sum of each column is `sum(X, 1)`"),
    (&["rowSums", "rowsums", "row_sums"], "the sum of each row is `sum(X, 0)`"),
    (&["colMaxs", "colMax"], "the largest cell of each column is `aggMax(X, 1)`"),
    (&["rowMaxs", "rowMax"], "the largest cell of each row is `aggMax(X, 0)`"),
    (&["colMins", "colMin"], "the smallest cell of each column is `aggMin(X, 1)`"),
    (&["rowMins", "rowMin"], "the smallest cell of each row is `aggMin(X, 0)`"),
    (&["amax", "nanmax", "maxAll"], "the largest cell of a matrix is `aggMax(X)`"),
    (&["amin", "nanmin", "minAll"], "the smallest cell of a matrix is `aggMin(X)`"),
    (&["nrows", "numRows", "num_rows", "NROW"], "the number of rows is `nrow(X)`"),
    (&["ncols", "numCols", "num_cols", "NCOL"], "the number of columns is `ncol(X)`"),
    (
        &["len", "size", "numel", "count"],
        "the number of rows is `nrow(X)`, of columns `ncol(X)`, of cells `ncell(X)`; a list's length is `length(l)`",
    ),
    (&["dim", "shape", "dims"], "the dimensions of a matrix are `nrow(X)` and `ncol(X)`"),
    (
        &["matmul", "matMul", "dot", "mm", "mtimes", "crossprod"],
        "the matrix product is the operator `@`: `A @ B` (and `syrk(X)` is `t(X) @ X`)",
    ),
    (&["zeros", "zeros_like"], "a matrix of zeros is `fill(0.0, rows, cols)`"),
    (&["ones", "ones_like"], "a matrix of ones is `fill(1.0, rows, cols)`"),
    (&["full", "rep", "repmat"], "a matrix with every cell `v` is `fill(v, rows, cols)`"),
    (&["eye", "identity"], "the n x n identity matrix is `diagMatrix(fill(1.0, n, 1))`"),
    (&["diag"], "`diagMatrix(v)` puts a column on a diagonal, `diagVector(X)` takes the diagonal out"),
    (
        &["arange", "range", "linspace", "colon"],
        "`seq(from, to, inc)` is the column from, from + inc, ... to (inclusive)",
    ),
    (
        &["runif", "random", "randn", "rnorm", "uniform"],
        "`rand(rows, cols, min, max, sparsity, seed)` draws uniformly from [min, max]",
    ),
    (&["hstack", "column_stack", "cbind2"], "`cbind(A, B)` puts the columns of B after those of A"),
    (&["vstack", "row_stack", "rbind2", "concatenate"], "`rbind(A, B)` puts the rows of B below those of A"),
    (&["avg", "average", "nanmean"], "the mean is `mean(X)` (per row `mean(X, 0)`, per column `mean(X, 1)`)"),
    (&["std", "sd", "stdev"], "the standard deviation is `stddev(X)`"),
    (&["variance"], "the variance is `var(X)`"),
    (
        &["argmin", "which.min", "which_min"],
        "the position of the smallest cell per row is `idxMin(X, 0)`, per column `idxMin(X, 1)`",
    ),
    (
        &["argmax", "which.max", "which_max"],
        "the position of the largest cell per row is `idxMax(X, 0)`, per column `idxMax(X, 1)`",
    ),
    (&["log10", "log2"], "the logarithm to a base is `log(x, base)`; the natural one is `ln(x)`"),
    (&["cumsum"], "the running sum is `cumSum(X)`"),
    (&["cumprod"], "the running product is `cumProd(X)`"),
    (
        &["sort", "sort_values", "argsort"],
        "`order(X, col, true, false)` sorts the rows by a column (true: ascending; last flag true: positions)",
    ),
    (&["inv", "inverse", "pinv"], "there is no matrix inverse; `solve(A, b)` solves A @ x = b"),
    (&["exit", "quit", "error", "raise", "abort"], "`stop(\"message\")` ends the script with an error"),
    (
        &["println", "printf", "disp", "display", "echo", "puts", "cat", "show", "write_line", "printLn", "printline"],
        "`print(x)` prints a value and a newline; `print(x, false)` without the newline",
    ),
    (&["trace"], "the trace is `sum(diagVector(X))`"),
    (&["nnz", "count_nonzero"], "the number of non-zero cells is `sum(X != 0)`"),
    (&["head"], "the first rows are an index range: `X[0:5, ]`"),
];

/// The hint for a name from another language, if it is one.
pub(crate) fn foreign_hint(name: &str) -> Option<&'static str> {
    FOREIGN.iter().find(|(names, _)| names.contains(&name)).map(|(_, hint)| *hint)
}

/// A hint for a built-in called with a number of arguments that suggests another one:
/// `max(X)` and `min(X)` of one matrix, which DaphneDSL calls `aggMax` and `aggMin`.
pub(crate) fn arity_hint(name: &str, given: usize) -> Option<String> {
    match (name, given) {
        ("max", 1) => Some("the largest cell of one matrix is `aggMax(X)`; `max(a, b)` is elementwise".to_owned()),
        ("min", 1) => Some("the smallest cell of one matrix is `aggMin(X)`; `min(a, b)` is elementwise".to_owned()),
        _ => None,
    }
}

/// The known names closest to `name`, best first, at most three: those within an edit
/// distance of a third of the name's length (at least 1), ignoring case; ties go to the name
/// that differs less in case, then alphabetically.
pub(crate) fn closest<'n>(name: &str, known: impl IntoIterator<Item = &'n str>) -> Vec<&'n str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let mut found: Vec<(usize, usize, &str)> = known
        .into_iter()
        .filter(|k| *k != name)
        .filter_map(|k| {
            let d = distance(&lower, &k.to_lowercase());
            (d <= limit).then(|| (d, distance(name, k), k))
        })
        .collect();
    found.sort();
    found.dedup_by(|a, b| a.2 == b.2);
    found.into_iter().take(3).map(|(_, _, k)| k).collect()
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbouring characters each cost one.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The help for an unknown function `name`: a hint for a foreign name, else the closest of
/// `known` names.
pub(crate) fn unknown_function<'n>(name: &str, known: impl IntoIterator<Item = &'n str>) -> Option<String> {
    if let Some(hint) = foreign_hint(name) {
        return Some(hint.to_owned());
    }
    did_you_mean(name, known)
}

/// "did you mean `a`?" or "did you mean `a`, `b` or `c`?" for the names of `known` closest
/// to `name`; `None` if none is close.
pub(crate) fn did_you_mean<'n>(name: &str, known: impl IntoIterator<Item = &'n str>) -> Option<String> {
    let close = closest(name, known);
    let quoted: Vec<String> = close.iter().map(|k| format!("`{k}`")).collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [rest @ .., last] => Some(format!("did you mean {} or {last}?", rest.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["print", "nrow", "ncol", "ncell", "sum", "seq", "mean", "max", "cumSum", "rand", "round"];

    #[test]
    fn a_swap_and_a_missing_letter_are_one_edit() {
        assert_eq!(distance("pritn", "print"), 1);
        assert_eq!(distance("prnt", "print"), 1);
        assert_eq!(distance("print", "print"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn misspellings_of_print_suggest_print() {
        for typo in ["pritn", "prnt", "Print", "printt", "prin"] {
            assert_eq!(closest(typo, KNOWN.iter().copied()), vec!["print"], "{typo}");
        }
    }

    #[test]
    fn a_difference_only_in_case_ranks_first() {
        // `cumsum` is one edit from nothing but `cumSum`, which differs only in case.
        assert_eq!(closest("cumsum", KNOWN.iter().copied()), vec!["cumSum"]);
        // `Sum` is `sum` in another case (distance 0) before `seq`-like neighbours.
        assert_eq!(closest("Sum", ["seq", "Sun", "sum"]), vec!["sum", "Sun"]);
    }

    #[test]
    fn closer_names_come_first_and_at_most_three() {
        // `ncel` is one edit from `ncell` and two from `nrow`/`ncol`; a short name allows one.
        assert_eq!(closest("ncel", KNOWN.iter().copied()), vec!["ncell", "ncol"]);
        let many = ["abcd", "abce", "abcf", "abcg"];
        assert_eq!(closest("abch", many).len(), 3);
    }

    #[test]
    fn far_names_are_not_suggested() {
        assert!(closest("foo", KNOWN.iter().copied()).is_empty());
        assert!(closest("xyzzy", KNOWN.iter().copied()).is_empty());
    }

    #[test]
    fn foreign_names_get_their_hint_before_any_edit_distance() {
        // `nrows` is one edit from `nrow`, but the hint says what to write.
        assert_eq!(
            unknown_function("nrows", KNOWN.iter().copied()).as_deref(),
            Some("the number of rows is `nrow(X)`")
        );
        assert!(unknown_function("colMeans", KNOWN.iter().copied()).is_some_and(|h| h.contains("mean(X, 1)")));
        assert!(unknown_function("rowSums", KNOWN.iter().copied()).is_some_and(|h| h.contains("sum(X, 0)")));
        assert!(unknown_function("zeros", KNOWN.iter().copied()).is_some_and(|h| h.contains("fill(0.0")));
        assert!(unknown_function("matmul", KNOWN.iter().copied()).is_some_and(|h| h.contains("`@`")));
    }

    #[test]
    fn several_candidates_are_listed_with_or() {
        assert_eq!(unknown_function("rond", ["round", "rand"]).as_deref(), Some("did you mean `rand` or `round`?"));
    }

    #[test]
    fn the_foreign_hints_name_only_existing_builtins() {
        // Every `name(` a hint shows must be a built-in (or the operator it names).
        for (_, hint) in FOREIGN {
            for part in hint.split('`').skip(1).step_by(2) {
                if let Some(open) = part.find('(') {
                    let called = &part[..open];
                    assert!(crate::builtins::builtin(called).is_some(), "hint `{hint}` names `{called}`");
                }
            }
        }
    }

    #[test]
    fn no_foreign_name_is_a_builtin() {
        for (names, _) in FOREIGN {
            for n in *names {
                assert!(crate::builtins::builtin(n).is_none(), "`{n}` is a built-in");
            }
        }
    }
}
