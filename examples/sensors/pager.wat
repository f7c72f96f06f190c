;; pager: subscribes to `alerts.>` and counts the alerts `aggregator`
;; publishes. `count` is exported for `airssys invoke` and tests.
(module
  (memory (export "memory") 1)
  (global $alerts (mut i64) (i64.const 0))

  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 60000))
      (then (i32.const 0))
      (else (i32.const 1024))))

  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (global.set $alerts (i64.add (global.get $alerts) (i64.const 1)))
    (i32.const 0))

  (func (export "count") (result i64) (global.get $alerts))

  (func (export "health") (result i32) (i32.const 0)))
