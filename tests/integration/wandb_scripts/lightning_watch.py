"""Lightning's WandbLogger.watch(model, log="all", log_freq=10) as Lightning's docs show it,
with a LightningModule whose training_step calls its network (``self.net(x)``), not
``self(x)``: the common shape of Lightning code."""

import sys

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

out = sys.argv[1]
L.seed_everything(0)


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)
        )

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


data = torch.utils.data.TensorDataset(torch.randn(32, 3), torch.randn(32, 1))
loader = torch.utils.data.DataLoader(data, batch_size=4)
logger = WandbLogger(project="lit", name="watched", offline=True, save_dir=out + "/stage")
model = Tiny()
logger.watch(model, log="all", log_freq=10)
trainer = L.Trainer(
    max_epochs=3,
    logger=logger,
    log_every_n_steps=1,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
)
trainer.fit(model, loader)
print("RUN", logger.experiment.id, logger.experiment.project)
