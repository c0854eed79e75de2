"""transformers' Trainer.hyperparameter_search(backend="wandb"): its own wandb.sweep and
wandb.agent with the default W&B search space, a 2-layer BERT built from a config, random
tokens, no hub access. Writes what each trial trained with and the BestRun to expected.json."""

import json
import os
import sys

import torch
import wandb
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

out = sys.argv[1]
n_trials = int(sys.argv[2])


def model_init(trial=None):
    torch.manual_seed(0)
    return BertForSequenceClassification(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
            num_labels=2,
        )
    )


class Tokens(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 50, (8,), generator=g), "labels": torch.tensor(i % 2)}


trials = []


class Record(TrainerCallback):
    """The hyperparameters each trial trained with, and the W&B run it trained in."""

    def on_train_begin(self, args, state, control, **kwargs):
        trials.append(
            {
                "learning_rate": args.learning_rate,
                "num_train_epochs": args.num_train_epochs,
                "seed": args.seed,
                "per_device_train_batch_size": args.per_device_train_batch_size,
            }
        )

    def on_train_end(self, args, state, control, **kwargs):
        trials[-1]["run_id"] = wandb.run.id


args = TrainingArguments(
    output_dir=os.path.join(out, "hf"),
    report_to=["wandb"],
    eval_strategy="no",
    save_strategy="no",
    logging_steps=1,
    use_cpu=True,
    disable_tqdm=True,
)
trainer = Trainer(
    model_init=model_init,
    args=args,
    train_dataset=Tokens(),
    eval_dataset=Tokens(),
    callbacks=[Record()],
)
best = trainer.hyperparameter_search(
    backend="wandb", n_trials=n_trials, direction="minimize", project="hpsearch"
)
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(
        {
            "best": {
                "run_id": best.run_id,
                "objective": best.objective,
                "hyperparameters": best.hyperparameters,
                "sweep_id": best.run_summary,
            },
            "trials": trials,
            "wandb_file": wandb.__file__,
        },
        f,
        default=str,
    )
