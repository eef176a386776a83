//! DAPHNE's user configuration file (`--config file.json`, `UserConfig.json` in DAPHNE).
//!
//! Read here: `daphnedsl_import_paths` (where `import` looks for scripts and libraries),
//! `sparsity_threshold` (for `--select-matrix-repr`) and the vectorized engine's
//! `numberOfThreads`, `taskPartitioningScheme` and `minimumTaskSize` (the command line's
//! `--num-threads`, `--partitioning` and `--grain-size` win), and one key of ours,
//! `csv_float_format` (`"fixed"` writes floats with DAPHNE's `%f`). Every other key DAPHNE knows is accepted
//! and has no effect here (it tunes DAPHNE's own compiler, CUDA, HDFS or logging); a key DAPHNE
//! does not know is an error, as in DAPHNE.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use daphne_runtime::io::FloatFormat;
use daphne_runtime::schedule::Partitioning;
use serde_json::Value as Json;

use crate::{Failure, Status};

/// The keys of DAPHNE's `DaphneConfigJsonParams`.
const KNOWN_KEYS: &[&str] = &[
    "use_cuda",
    "use_vectorized_exec",
    "use_vectorized_restricted",
    "use_obj_ref_mgnt",
    "use_optimistic_splitting",
    "use_ipa_const_propa",
    "use_phy_op_selection",
    "use_mlir_codegen",
    "use_columnar",
    "matmul_vec_size_bits",
    "matmul_tile",
    "matmul_fixed_tile_sizes",
    "matmul_use_fixed_tile_sizes",
    "matmul_unroll_factor",
    "matmul_unroll_jam_factor",
    "matmul_num_vec_registers",
    "matmul_invert_loops",
    "cuda_fuse_any",
    "vectorized_single_queue",
    "debug_llvm",
    "explain_columnar",
    "explain_kernels",
    "explain_llvm",
    "explain_parsing",
    "explain_parsing_simplified",
    "explain_property_inference",
    "explain_select_matrix_repr",
    "explain_transfer_data_props",
    "explain_sql",
    "explain_phy_op_selection",
    "explain_type_adaptation",
    "explain_vectorized",
    "explain_obj_ref_mgnt",
    "explain_mlir_codegen",
    "explain_mlir_codegen_daphneir_to_mlir",
    "explain_mlir_codegen_mlir_specific",
    "taskPartitioningScheme",
    "numberOfThreads",
    "minimumTaskSize",
    "phyBatchSize",
    "useHdfs",
    "hdfsAddress",
    "hdfsUsername",
    "cuda_devices",
    "libdir",
    "daphnedsl_import_paths",
    "logging",
    "force_cuda",
    "sparsity_threshold",
    "enable_property_recording",
    "enable_property_insert",
    "properties_file_path",
];

/// The settings of a user configuration that change what a script means.
#[derive(Debug, Clone, PartialEq)]
pub struct UserConfig {
    /// `daphnedsl_import_paths`: `default_dirs` are searched for imported files; every other
    /// entry names a library directory whose files `import "name";` imports together.
    /// Relative directories are relative to the working directory, as in DAPHNE.
    pub import_paths: BTreeMap<String, Vec<PathBuf>>,
    /// The estimated sparsity below which `--select-matrix-repr` chooses CSR.
    pub sparsity_threshold: f64,
    /// `numberOfThreads` (DAPHNE's default when zero or less).
    pub threads: Option<usize>,
    /// `taskPartitioningScheme`: a name (`"GSS"`) or DAPHNE's enum number (`2`).
    pub partitioning: Option<Partitioning>,
    /// `minimumTaskSize`, in rows.
    pub grain_rows: Option<usize>,
    /// `csv_float_format` (ours): `"shortest"` (the default: the shortest text that reads
    /// back to the same value) or `"fixed"` (DAPHNE's `%f`, for byte-identical files).
    pub csv_floats: FloatFormat,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            import_paths: BTreeMap::new(),
            sparsity_threshold: daphne_lower::SPARSITY_THRESHOLD,
            threads: None,
            partitioning: None,
            grain_rows: None,
            csv_floats: FloatFormat::default(),
        }
    }
}

/// Reads a configuration file. Any problem with it is a failure with DAPHNE's status for a
/// bad configuration (a parser error) and names the file.
pub fn read_config(path: &Path) -> Result<UserConfig, Failure> {
    let fail = |what: String| Failure {
        message: format!("error: user configuration {}: {what}\n", path.display()),
        status: Status::ParserError,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let json: Json = serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    parse_config(&json).map_err(|e| fail(e.to_string()))
}

/// What is wrong with a configuration's content (a setting it names and why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl From<&str> for ConfigError {
    fn from(what: &str) -> ConfigError {
        ConfigError(what.to_owned())
    }
}

/// The settings of a configuration's JSON object.
pub fn parse_config(json: &Json) -> Result<UserConfig, ConfigError> {
    let Json::Object(map) = json else {
        return Err("the configuration must be a JSON object".into());
    };
    let mut config = UserConfig::default();
    for (key, value) in map {
        match key.as_str() {
            "daphnedsl_import_paths" => config.import_paths = import_paths(value)?,
            "sparsity_threshold" => {
                config.sparsity_threshold = value
                    .as_f64()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or("`sparsity_threshold` must be a number between 0 and 1")?;
            }
            "numberOfThreads" => {
                let n = value.as_i64().ok_or("`numberOfThreads` must be an integer")?;
                config.threads = usize::try_from(n).ok().filter(|&n| n > 0);
            }
            "taskPartitioningScheme" => {
                let bad = || {
                    ConfigError(format!(
                        "`taskPartitioningScheme` must be one of {} or its number",
                        Partitioning::names()
                    ))
                };
                let p = match value {
                    Json::String(name) => Partitioning::parse(name),
                    Json::Number(n) => n.as_u64().and_then(|i| Partitioning::ALL.get(i as usize)).map(|&(_, p)| p),
                    _ => None,
                };
                config.partitioning = Some(p.ok_or_else(bad)?);
            }
            "minimumTaskSize" => {
                let n = value.as_u64().ok_or("`minimumTaskSize` must be a non-negative integer")?;
                config.grain_rows = Some(n.max(1) as usize);
            }
            "csv_float_format" => {
                config.csv_floats = value
                    .as_str()
                    .and_then(FloatFormat::parse)
                    .ok_or("`csv_float_format` must be \"shortest\" or \"fixed\" (DAPHNE's %f)")?;
            }
            k if KNOWN_KEYS.contains(&k) => {}
            k => return Err(ConfigError(format!("unexpected key `{k}`"))),
        }
    }
    Ok(config)
}

fn import_paths(value: &Json) -> Result<BTreeMap<String, Vec<PathBuf>>, ConfigError> {
    let bad = || ConfigError::from("`daphnedsl_import_paths` must map names to lists of directories");
    let Json::Object(map) = value else { return Err(bad()) };
    map.iter()
        .map(|(name, dirs)| {
            let dirs = dirs.as_array().ok_or_else(bad)?;
            let dirs = dirs.iter().map(|d| d.as_str().map(PathBuf::from).ok_or_else(bad)).collect::<Result<_, _>>()?;
            Ok((name.clone(), dirs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_daphnes_settings_and_rejects_unknown_keys() {
        let json = serde_json::json!({
            "use_vectorized_exec": false,
            "sparsity_threshold": 0.5,
            "daphnedsl_import_paths": { "default_dirs": ["a", "b"], "algorithms": ["algos"] }
        });
        let c = parse_config(&json).unwrap();
        assert_eq!(c.sparsity_threshold, 0.5);
        assert_eq!(c.import_paths["default_dirs"], vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(
            parse_config(&serde_json::json!({"use_gpu": true})).unwrap_err().to_string(),
            "unexpected key `use_gpu`"
        );
        assert!(parse_config(&serde_json::json!({"daphnedsl_import_paths": ["a"]})).is_err());
        assert!(parse_config(&serde_json::json!({"sparsity_threshold": 2})).is_err());
        assert!(parse_config(&serde_json::json!([])).is_err());
        let c = parse_config(&serde_json::json!({"csv_float_format": "fixed"})).unwrap();
        assert_eq!(c.csv_floats, FloatFormat::Fixed);
        assert!(parse_config(&serde_json::json!({"csv_float_format": "%g"})).is_err());
    }

    #[test]
    fn reads_the_engine_settings_by_name_or_number() {
        let c = parse_config(&serde_json::json!({
            "numberOfThreads": -1, "taskPartitioningScheme": "gss", "minimumTaskSize": 512
        }))
        .unwrap();
        assert_eq!((c.threads, c.partitioning, c.grain_rows), (None, Some(Partitioning::Gss), Some(512)));
        let c = parse_config(&serde_json::json!({"numberOfThreads": 3, "taskPartitioningScheme": 4})).unwrap();
        assert_eq!((c.threads, c.partitioning), (Some(3), Some(Partitioning::Fac2)));
        let e = parse_config(&serde_json::json!({"taskPartitioningScheme": "AUTO"})).unwrap_err();
        assert!(e.to_string().contains("STATIC, SS, GSS"), "{e}");
        assert!(parse_config(&serde_json::json!({"taskPartitioningScheme": 12})).is_err());
    }
}
