"""transformers' Trainer with report_to=["wandb"]: a 2-layer BERT built from a config, random
tokens, no hub access. Writes what W&B would have received to expected.json."""

import json
import sys

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.integrations.integration_utils import rewrite_logs

out = sys.argv[1]
torch.manual_seed(0)
config = BertConfig(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=32,
    num_labels=2,
)
model = BertForSequenceClassification(config)


class Tokens(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 50, (8,), generator=g), "labels": torch.tensor(i % 2)}


SCALARS = {
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
    "total_flos",
}
seen = {"rows": [], "summary": {}}


class Record(TrainerCallback):
    """What WandbCallback hands to W&B: the config at its setup (on_train_begin) and, per
    on_log, the row for wandb.log and the values for run.summary (it runs just before)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        seen["config"] = {**model.config.to_dict(), **args.to_dict()}
        seen["config"]["model/num_parameters"] = model.num_parameters()

    def on_log(self, args, state, control, logs=None, **kwargs):
        row = rewrite_logs({k: v for k, v in logs.items() if k not in SCALARS})
        seen["rows"].append({**row, "train/global_step": state.global_step})
        seen["summary"].update({k: v for k, v in logs.items() if k in SCALARS})


args = TrainingArguments(
    output_dir=out + "/hf",
    report_to=["wandb"],
    run_name="tiny-bert",
    num_train_epochs=2,
    per_device_train_batch_size=8,
    logging_steps=1,
    eval_strategy="epoch",
    save_strategy="no",
    use_cpu=True,
    disable_tqdm=True,
)
trainer = Trainer(
    model=model, args=args, train_dataset=Tokens(), eval_dataset=Tokens(), callbacks=[Record()]
)
trainer.train()

import wandb  # noqa: E402  (what the callback imported)

with open(out + "/expected.json", "w") as f:
    json.dump(
        {**seen, "run_id": wandb.run.id if wandb.run else None, "wandb_file": wandb.__file__},
        f,
        default=str,
    )
