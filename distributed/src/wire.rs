//! The protocol's typed fields: what travels as a protobuf enum, and the checks that turn
//! an enum's number back into the runtime's type (an unknown number is a malformed request).

use daphne_ir::Builtin;
use daphne_runtime::schedule::Partitioning;
use daphne_runtime::source::{RandPos, Source};
use daphne_runtime::value::{Scalar, Value};

use crate::codec;
use crate::error::{CodecError, Refusal};
use crate::proto;

/// A generated matrix as the protocol's message.
pub fn generate(s: &Source) -> Result<proto::Generate, CodecError> {
    let scalar = |x: &Scalar| codec::encode(&Value::Scalar(x.clone())).map(bytes::Bytes::from);
    let (rows, cols) = s.shape();
    let mut g = proto::Generate { rows: rows as u64, cols: cols as u64, ..Default::default() };
    match s {
        Source::Rand { min, max, sparsity, seed, .. } => {
            g.kind = proto::GenerateKind::Rand as i32;
            g.scalars = vec![scalar(min)?, scalar(max)?];
            g.sparsity = *sparsity;
            g.seed = *seed;
        }
        Source::Fill { value, .. } => {
            g.kind = proto::GenerateKind::Fill as i32;
            g.scalars = vec![scalar(value)?];
        }
        Source::Seq { from, inc, .. } => {
            g.kind = proto::GenerateKind::Seq as i32;
            g.scalars = vec![scalar(from)?, scalar(inc)?];
        }
        Source::Sample { range, seed, .. } => {
            g.kind = proto::GenerateKind::Sample as i32;
            g.scalars = vec![scalar(range)?];
            g.seed = *seed;
        }
    }
    Ok(g)
}

/// The generated matrix a message describes, checked as the kernel checks its arguments (a
/// `rand` or `sample` seed is resolved by the coordinator: `-1` is refused).
pub fn source_of(g: &proto::Generate) -> Result<Source, Refusal> {
    let bad = |what: &str| Refusal::invalid(format!("a generated matrix: {what}"));
    let scalars = g
        .scalars
        .iter()
        .map(|b| match codec::decode(b)? {
            Value::Scalar(s) if s.value_type() != daphne_ir::ValueType::Str => Ok(s),
            _ => Err(bad("an argument that is not a number")),
        })
        .collect::<Result<Vec<Scalar>, Refusal>>()?;
    let size = |n: u64| i64::try_from(n).map(|n| Value::Scalar(Scalar::Si64(n))).map_err(|_| bad("too many rows"));
    let kind = proto::GenerateKind::try_from(g.kind).map_err(|_| bad("an unknown kind"))?;
    let source = match (kind, scalars.as_slice()) {
        (proto::GenerateKind::Rand, [min, max]) if min.value_type() == max.value_type() => {
            if g.seed == -1 {
                return Err(bad("an unresolved seed"));
            }
            let args = [
                size(g.rows)?,
                size(g.cols)?,
                Value::Scalar(min.clone()),
                Value::Scalar(max.clone()),
                Value::Scalar(Scalar::F64(g.sparsity)),
                Value::Scalar(Scalar::Si64(g.seed)),
            ];
            Source::of(Builtin::Rand, &args, min.value_type())
        }
        (proto::GenerateKind::Fill, [value]) => {
            Source::of(Builtin::Fill, &[Value::Scalar(value.clone()), size(g.rows)?, size(g.cols)?], value.value_type())
        }
        (proto::GenerateKind::Seq, [from, inc]) if from.value_type() == inc.value_type() && g.cols == 1 => {
            let rows = usize::try_from(g.rows).map_err(|_| bad("too many rows"))?;
            Ok(Some(Source::Seq { from: from.clone(), inc: inc.clone(), rows }))
        }
        (proto::GenerateKind::Sample, [range]) if g.cols == 1 => {
            if g.seed == -1 {
                return Err(bad("an unresolved seed"));
            }
            let args = [
                Value::Scalar(range.clone()),
                size(g.rows)?,
                Value::Scalar(Scalar::Bool(true)),
                Value::Scalar(Scalar::Si64(g.seed)),
            ];
            Source::of(Builtin::Sample, &args, range.value_type())
        }
        _ => return Err(bad("arguments that do not fit its kind")),
    };
    match source {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(bad("no matrix")),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// The rows `rows` of the matrix or frame file a message describes, read here (the file must
/// be visible to this worker: a shared file system): a matrix, or a frame's columns `pick`
/// (converted to one matrix with `as_matrix`).
pub fn read_rows(
    r: &proto::ReadRows,
    rows: std::ops::Range<usize>,
    threads: usize,
) -> Result<Value, daphne_runtime::error::Error> {
    use daphne_runtime::io::{Meta, ranges};
    let bad = |what: &str| daphne_runtime::error::Error::Failed(format!("a read of '{}': {what}", r.path));
    let code = |c: u32| codec::type_of_code(c).map_err(|e| bad(&e.to_string()));
    let frame = !r.labels.is_empty();
    let schema = if frame {
        r.schema.iter().map(|&c| code(c)).collect::<Result<Vec<_>, _>>()?
    } else {
        vec![code(r.value_type)?]
    };
    let delimiter = u8::try_from(r.delimiter).map_err(|_| bad("a delimiter beyond a byte"))?;
    let cols = usize::try_from(r.cols).map_err(|_| bad("too many columns"))?;
    if frame && (r.labels.len() != cols || schema.len() != cols) {
        return Err(bad("a frame whose labels or value types are not one per column"));
    }
    let rows_said = r.meta_rows.map(usize::try_from).transpose().map_err(|_| bad("too many rows"))?;
    let labels = frame.then(|| r.labels.clone());
    let meta = Meta { rows: rows_said, cols, schema, labels, header: r.header, delimiter };
    let value = if r.anchored {
        let anchor = ranges::Pos { part: r.anchor_part, offset: r.anchor_offset };
        ranges::read_csv_rows(&r.path, &meta, anchor, r.anchor_row, rows, threads)?
    } else {
        ranges::read_rows(&r.path, &meta, rows, threads)?
    };
    let f = match value {
        Value::Frame(f) if frame => f,
        m @ Value::Matrix(_) if !frame => return Ok(m),
        other => return Err(bad(&format!("it read {}", other.describe()))),
    };
    let pick = r.pick.iter().map(|&j| usize::try_from(j).ok().filter(|&j| j < cols)).collect::<Option<Vec<_>>>();
    let pick = pick.ok_or_else(|| bad("a column beyond the frame's"))?;
    let f = if pick.is_empty() { f } else { f.select_cols(&pick) };
    match r.as_matrix {
        Some(c) => Ok(Value::Matrix(f.to_matrix(code(c)?)?)),
        None => Ok(Value::Frame(f)),
    }
}

pub fn stream_pos(p: RandPos) -> proto::StreamPos {
    proto::StreamPos { value_words: p.value_words, index_words: p.index_words, chosen: p.chosen }
}

pub fn rand_pos(p: Option<&proto::StreamPos>) -> RandPos {
    p.map_or_else(RandPos::default, |p| RandPos {
        value_words: p.value_words,
        index_words: p.index_words,
        chosen: p.chosen,
    })
}

/// A partitioning scheme as the protocol's enum.
pub fn partitioning(p: Partitioning) -> proto::Partitioning {
    match p {
        Partitioning::Static => proto::Partitioning::Static,
        Partitioning::Ss => proto::Partitioning::Ss,
        Partitioning::Gss => proto::Partitioning::Gss,
        Partitioning::Tss => proto::Partitioning::Tss,
        Partitioning::Fac2 => proto::Partitioning::Fac2,
        Partitioning::Tfss => proto::Partitioning::Tfss,
        Partitioning::Fiss => proto::Partitioning::Fiss,
        Partitioning::Viss => proto::Partitioning::Viss,
        Partitioning::Pls => proto::Partitioning::Pls,
        Partitioning::Mstatic => proto::Partitioning::Mstatic,
        Partitioning::Mfsc => proto::Partitioning::Mfsc,
        Partitioning::Pss => proto::Partitioning::Pss,
    }
}

/// The scheme a task's `partitioning` field names; unknown and unspecified numbers are refused.
pub fn partitioning_of(number: i32) -> Result<Partitioning, Refusal> {
    let unknown = || Refusal::invalid(format!("a task's partitioning scheme: {number} is none of the protocol's"));
    Ok(match proto::Partitioning::try_from(number).map_err(|_| unknown())? {
        proto::Partitioning::Unspecified => {
            return Err(Refusal::invalid("a task without a partitioning scheme"));
        }
        proto::Partitioning::Static => Partitioning::Static,
        proto::Partitioning::Ss => Partitioning::Ss,
        proto::Partitioning::Gss => Partitioning::Gss,
        proto::Partitioning::Tss => Partitioning::Tss,
        proto::Partitioning::Fac2 => Partitioning::Fac2,
        proto::Partitioning::Tfss => Partitioning::Tfss,
        proto::Partitioning::Fiss => Partitioning::Fiss,
        proto::Partitioning::Viss => Partitioning::Viss,
        proto::Partitioning::Pls => Partitioning::Pls,
        proto::Partitioning::Mstatic => Partitioning::Mstatic,
        proto::Partitioning::Mfsc => Partitioning::Mfsc,
        proto::Partitioning::Pss => Partitioning::Pss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_travels_and_comes_back() {
        for (_, p) in Partitioning::ALL {
            assert_eq!(partitioning_of(partitioning(p) as i32), Ok(p));
        }
    }

    #[test]
    fn unknown_and_unspecified_numbers_are_refused() {
        for n in [0, 13, -1, i32::MAX] {
            let e = partitioning_of(n).unwrap_err();
            assert_eq!(e.kind, crate::error::Refused::InvalidArgument, "{n}");
        }
    }
}
