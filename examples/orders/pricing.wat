;; pricing: answers requests with `priced:<order>`. Reached only by request
;; from `validator` (its allow-list), never by topic.
(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "priced:")         ;; 7 bytes; order copied to 1031

  (func (export "alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 30000))
      (then (i32.const 0))
      (else (i32.const 32768))))

  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (local $payload i32) (local $payload_len i32)
    (local.set $payload_len (i32.load offset=12 (local.get $ptr)))
    (local.set $payload
      (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
                        (i32.load offset=4 (local.get $ptr)))
               (i32.load offset=8 (local.get $ptr))))
    (if (i32.gt_u (local.get $payload_len) (i32.const 2048))
      (then (return (i32.const 1))))
    (memory.copy (i32.const 1031) (local.get $payload) (local.get $payload_len))
    (drop (call $reply (i32.const 1024) (i32.add (i32.const 7) (local.get $payload_len))))
    (i32.const 0))

  (func (export "health") (result i32) (i32.const 0)))
