"""In the style of W&B's launch docs: everything about the run comes from WANDB_* variables;
with WANDB_MODE=disabled the script runs unchanged and nothing is written."""

import wandb

run = wandb.init(config={"seed": 1})
for i in range(4):
    wandb.log({"acc": i / 4})
print("RUN", run.id, run.project, run.name, ",".join(run.tags), run.disabled)
run.finish()
