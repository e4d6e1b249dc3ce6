//! Bad input to the desired-state parser: no text panics it, and every refusal names a problem.
//! The fixed limits (size, depth, aliases) are tested in `tests.rs`; this covers the rest of the
//! input space by mutating a valid file.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = "controller:
  cloud: simulated
  simulated: {}
  syncInterval: 30s
  transitionInterval: 2s
runners:
  - name: runner-a
    activeShard: green
    revision: \"42\"
    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/2
    shards:
      blue: { autoScalingGroup: a-blue, targetGroupArn: arn:tg/a-blue }
      green: { autoScalingGroup: a-green, targetGroupArn: arn:tg/a-green }
";

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(errors) = super::parse(text, Path::new("fuzz.yaml")) {
        prop_assert!(
            !errors.to_string().trim().is_empty(),
            "an error without a message"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_with_a_message(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn a_valid_file_with_a_slice_replaced_is_parsed_or_refused(
        at in 0..VALID.len(),
        len in 0..40usize,
        insert in prop_oneof![
            Just(String::new()),
            Just("&a ".to_owned()),
            Just("*a".to_owned()),
            Just("\n  - ".to_owned()),
            Just("{[".to_owned()),
            Just(": :".to_owned()),
            Just("\t".to_owned()),
            Just("!!binary ".to_owned()),
            Just("capacity: -1\n".to_owned()),
            "[ -~\n]{0,12}",
        ],
    ) {
        let mut text = VALID.to_owned();
        let end = (at + len).min(text.len());
        text.replace_range(at..end, &insert);
        check(&text)?;
    }
}

#[test]
fn the_unmutated_file_is_valid() {
    super::parse(VALID, Path::new("fuzz.yaml")).expect("the seed of the mutations is valid");
}
