//! The protocol's typed fields: what travels as a protobuf enum, and the checks that turn
//! an enum's number back into the runtime's type (an unknown number is a malformed request).

use daphne_runtime::schedule::Partitioning;

use crate::error::Refusal;
use crate::proto;

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
