"""LightningModule, LightningDataModule and callbacks for the joint trainer."""
