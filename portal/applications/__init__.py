"""Applications (一证通办, 承诺制): household, pledge, parallel checks, decision, notice."""
