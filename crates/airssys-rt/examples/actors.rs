//! The actor core in one page: spawn, tell, ask, try_tell, failure, dead letters.
//!
//! `cargo run -p airssys-rt --example actors`

use std::time::Duration;

use airssys_rt::{Actor, ActorContext, ActorSystem, ErrorAction, TrySendError};

/// A bank account: the state an actor owns.
#[derive(Default)]
struct Account {
    balance: i64,
}

/// The messages it accepts.
enum Op {
    Deposit(i64),
    Withdraw(i64),
    Balance,
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds: balance {balance}, asked {asked}")]
struct Overdraft {
    balance: i64,
    asked: i64,
}

impl Actor for Account {
    type Message = Op;
    type Reply = i64;
    type Error = Overdraft;

    async fn handle_message(
        &mut self,
        op: Op,
        _: &mut ActorContext<Self>,
    ) -> Result<i64, Overdraft> {
        match op {
            Op::Deposit(n) => self.balance += n,
            Op::Withdraw(n) if n > self.balance => {
                return Err(Overdraft {
                    balance: self.balance,
                    asked: n,
                })
            }
            Op::Withdraw(n) => self.balance -= n,
            Op::Balance => {}
        }
        Ok(self.balance)
    }

    // A refused withdrawal is not a crash: keep the state.
    fn on_error(&mut self, _: &Overdraft, _: &mut ActorContext<Self>) -> ErrorAction {
        ErrorAction::Resume
    }
}

#[tokio::main]
async fn main() {
    // 1. One system holds every actor.
    let system = ActorSystem::new();

    // 2. Spawn from a factory (called again on every restart), with a name and a small mailbox.
    let account = system
        .spawn(Account::default)
        .name("account")
        .mailbox_capacity(8)
        .await
        .expect("spawn");

    // 3. tell: fire and forget (waits only if the mailbox is full).
    account.tell(Op::Deposit(100)).await.expect("tell");

    // 4. ask: request/reply under a timeout; a handler error comes back typed.
    let timeout = Duration::from_secs(1);
    println!(
        "balance = {}",
        account.ask(Op::Balance, timeout).await.expect("ask")
    );
    match account.ask(Op::Withdraw(500), timeout).await {
        Err(error) => println!("refused: {error}"),
        Ok(left) => println!("unexpected: {left}"),
    }

    // 5. Find it again by name, O(1).
    let same = system.lookup::<Account>("account").expect("registered");
    println!(
        "balance via lookup = {}",
        same.ask(Op::Withdraw(30), timeout).await.expect("ask")
    );

    // 6. try_tell never waits: a full mailbox hands the message back.
    for i in 0..20 {
        if let Err(TrySendError::MailboxFull {
            message, capacity, ..
        }) = account.try_tell(Op::Deposit(i))
        {
            let Op::Deposit(n) = message else {
                unreachable!()
            };
            println!("mailbox full at {capacity}; deposit {n} handed back");
            break;
        }
    }

    // 7. Shut down: every actor stops; anything left in a mailbox is dead-lettered and counted.
    let report = system.shutdown(Duration::from_secs(1)).await;
    println!(
        "shutdown: {} stopped, {} aborted",
        report.stopped.len(),
        report.aborted.len()
    );
    println!("stats: {:?}", system.stats());
}
