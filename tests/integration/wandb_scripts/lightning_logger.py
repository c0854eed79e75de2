"""Lightning's WandbLogger (offline, as W&B's docs show it) beside a CSVLogger that receives
the same metrics and hyperparameters."""

import sys

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger

out = sys.argv[1]
L.seed_everything(0)


class Tiny(L.LightningModule):
    def __init__(self, lr=0.05, hidden=4, labels={0: "neg", 1: "pos"}):  # noqa: B006
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


data = torch.utils.data.TensorDataset(torch.randn(32, 3), torch.randn(32, 1))
loader = torch.utils.data.DataLoader(data, batch_size=8)
wandb_logger = WandbLogger(project="lit", name="tiny-lit", offline=True, save_dir=out + "/stage")
csv = CSVLogger(out, name="csv")
trainer = L.Trainer(
    max_epochs=3,
    logger=[wandb_logger, csv],
    log_every_n_steps=1,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
)
trainer.fit(Tiny(), loader, loader)
# the logger's media helpers, as Lightning's docs show them (each logs one row)
wandb_logger.log_table(key="samples", columns=["x", "y"], data=[[1, 2.0], [3, 4.0]])
wandb_logger.log_image(key="pics", images=[np.zeros((4, 4, 3), dtype=np.uint8)], caption=["zero"])
print("RUN", wandb_logger.experiment.id, wandb_logger.experiment.project)
