//! The manifest's validation, case by case (the error texts operators
//! see are pinned in `tests/manifest_errors.rs`).

use super::*;

const GUEST: &str = "(module)";

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.wat", "b.wat"] {
        std::fs::write(dir.path().join(f), GUEST).unwrap();
    }
    Manifest::parse(&dir.path().join("airssys.toml"), text)
}

#[test]
fn instances_expand_to_numbered_ids_and_allow_lists_follow() {
    let m = parse(
        "[[component]]\nname = \"w\"\npath = \"a.wat\"\ninstances = 3\n\n\
         [[component]]\nname = \"boss\"\npath = \"b.wat\"\nsend = [\"w\"]\n\n\
         [[drive]]\nsend = \"w\"\nevery = \"10ms\"\npayloads = [\"x{n}\", \"y\"]\n",
    )
    .unwrap();
    assert_eq!(m.components[0].instance_ids(), ["w-0", "w-1", "w-2"]);
    assert_eq!(m.components[1].instance_ids(), ["boss"]);
    assert_eq!(m.components[1].send, ["w-0", "w-1", "w-2"]);
    assert_eq!(
        m.drives[0].target,
        DriveTarget::Send(vec!["w-0".into(), "w-1".into(), "w-2".into()])
    );
    assert_eq!(m.drives[0].payload(4), "x4");
    assert_eq!(m.drives[0].payload(5), "y");
    assert_eq!(m.host.max_components, DEFAULT_MAX_COMPONENTS);
}

#[test]
fn durable_topics_are_declared_once_with_valid_patterns() {
    let m = parse(
        "[cluster]\ntopic_retention = \"1h\"\n\n\
         [[topic]]\nsubject = \"orders.>\"\ndurable = true\n\n\
         [[topic]]\nsubject = \"audit\"\n",
    )
    .unwrap();
    assert_eq!(m.durable_topics(), ["orders.>"]);
    assert_eq!(m.topics.len(), 2);
    let cluster = m.host.cluster.as_ref().unwrap();
    assert_eq!(cluster.topic_retention, Duration::from_secs(3600));
    let e = parse("[[topic]]\nsubject = \"a.>.b\"\ndurable = true\n").unwrap_err();
    assert!(
        e.to_string().contains("invalid subject pattern `a.>.b`"),
        "{e}"
    );
    let e = parse("[[topic]]\nsubject = \"a\"\n[[topic]]\nsubject = \"a\"\n").unwrap_err();
    assert!(e.to_string().contains("declared twice"), "{e}");
}

#[test]
fn trap_exits_is_a_component_setting_off_by_default() {
    let m = parse(
        "[[component]]\nname = \"session\"\npath = \"a.wat\"\ntrap_exits = true\n\n\
         [[component]]\nname = \"worker\"\npath = \"b.wat\"\n",
    )
    .unwrap();
    assert!(m.components[0].trap_exits);
    assert!(!m.components[1].trap_exits);
    let spec = spec::component_spec(&m.components[0], "session", Arc::from(&b"(module)"[..]));
    assert!(spec.traps_exits());
    let e =
        parse("[[component]]\nname = \"s\"\npath = \"a.wat\"\ntrap_exits = \"yes\"\n").unwrap_err();
    assert!(
        e.to_string().contains(":4:") && e.to_string().contains("expected a boolean"),
        "{e}"
    );
}

#[test]
fn host_pool_keys_size_the_engine_and_absent_ones_keep_its_defaults() {
    let m = parse(
        "[host]\nmax_core_instances_per_component = 64\nmax_table_elements = 200000\n\
         max_memory_per_component = \"128MiB\"\n",
    )
    .unwrap();
    let config = m.host.pool.apply(EngineConfig::default()).build();
    assert_eq!(config.max_core_instances_per_component, 64);
    assert_eq!(config.max_table_elements, 200_000);
    assert_eq!(config.max_memory_per_component, 128 << 20);
    let defaults = EngineConfig::default().build();
    assert_eq!(
        config.max_memories_per_component,
        defaults.max_memories_per_component
    );
    assert_eq!(
        config.max_tables_per_component,
        defaults.max_tables_per_component
    );
}

#[test]
fn groups_are_ordered_parents_first() {
    let m = parse(
        "[[group]]\nname = \"leaf\"\nparent = \"mid\"\n\n\
         [[group]]\nname = \"mid\"\nparent = \"top\"\nstrategy = \"rest_for_one\"\n\n\
         [[group]]\nname = \"top\"\nstrategy = \"one_for_all\"\nintensity = { max_restarts = 2, within = \"1s\" }\n",
    )
    .unwrap();
    let names: Vec<&str> = m.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["top", "mid", "leaf"]);
    assert_eq!(m.groups[0].strategy, Strategy::OneForAll);
    assert_eq!(m.groups[0].intensity, Some((2, Duration::from_secs(1))));
    assert_eq!(m.groups[1].strategy, Strategy::RestForOne);
}

#[test]
fn component_limits_override_host_defaults_field_by_field() {
    let m = parse(
        "[host.limits]\nmax_memory = \"8MiB\"\nexecution_timeout = \"2s\"\n\n\
         [[component]]\nname = \"a\"\npath = \"a.wat\"\nlimits = { max_memory = \"1MiB\" }\n",
    )
    .unwrap();
    let l = &m.components[0].limits;
    assert_eq!(l.max_memory_bytes, 1 << 20);
    assert_eq!(l.execution_timeout, Duration::from_secs(2));
}

#[test]
fn a_self_parent_is_a_cycle() {
    let e = parse("[[group]]\nname = \"g\"\nparent = \"g\"\n").unwrap_err();
    assert_eq!(e.message(), "group cycle: g -> g");
}

proptest::proptest! {
    #[test]
    fn byte_sizes_round_trip(n in 0u64..(1 << 40), unit in 0usize..4) {
        let (suffix, mult) = [("", 1u64), ("KiB", 1 << 10), ("MiB", 1 << 20), ("KB", 1000)][unit];
        proptest::prop_assume!(n.checked_mul(mult).is_some());
        proptest::prop_assert_eq!(units::parse_bytes(&format!("{n}{suffix}")), Ok(n * mult));
    }

    #[test]
    fn positions_point_at_the_offset(lines in proptest::collection::vec("[a-zé ]{0,12}", 1..8), pick in 0usize..64) {
        let text = lines.join("\n");
        let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        proptest::prop_assume!(!offsets.is_empty());
        let offset = offsets[pick % offsets.len()];
        let (line, column) = error::line_column(&text, offset);
        let l = text.split('\n').nth(line - 1).unwrap();
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        proptest::prop_assert_eq!(&text[start..start + l.len()], l);
        proptest::prop_assert_eq!(text[start..offset].chars().count() + 1, column);
    }
}
