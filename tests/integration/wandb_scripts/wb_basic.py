"""In the style of W&B's examples: argparse config, config updates, define_metric with a
summary, a training loop logging with wandb.log and a summary value set by hand."""

import argparse
import math

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

run = wandb.init(
    project="examples",
    config=args,
    tags=["baseline"],
    notes="basic example",
    save_code=True,
    settings=wandb.Settings(console="off"),
)
wandb.config.update({"optimizer": "sgd", "id2label": {0: "cat", 1: "dog"}})
wandb.config.dropout = 0.1
wandb.define_metric("epoch")
wandb.define_metric("val/*", step_metric="epoch")
wandb.define_metric("val/loss", summary="min")
for epoch in range(wandb.config.epochs):
    for batch in range(3):
        wandb.log({"train/loss": math.exp(-epoch - batch / 3)})
    wandb.log({"epoch": epoch, "val/loss": 1.0 / (epoch + 1) + (0.5 if epoch == 3 else 0)})
wandb.summary["final_note"] = "done"
wandb.run.summary["best_epoch"] = 4
assert isinstance(run, wandb.wandb_run.Run)
print("RUN", run.id)
wandb.finish()
