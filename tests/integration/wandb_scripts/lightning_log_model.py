"""Lightning's WandbLogger with log_model=True, as Lightning's docs show it: the checkpoints a
ModelCheckpoint keeps are logged as a model artifact when training ends."""

import sys

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

out = sys.argv[1]
L.seed_everything(0)


class Tiny(L.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(3, 1)

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
logger = WandbLogger(project="lit", name="ckpt-lit", log_model=True)
checkpoint = ModelCheckpoint(dirpath=out + "/ckpt", monitor="val_loss", mode="min", save_top_k=2)
trainer = L.Trainer(
    max_epochs=3,
    logger=logger,
    callbacks=[checkpoint],
    log_every_n_steps=1,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
)
trainer.fit(Tiny(), loader, loader)
print("RUN", logger.experiment.id, logger.experiment.project, checkpoint.best_model_path)
