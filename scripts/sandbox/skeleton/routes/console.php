<?php

use Illuminate\Support\Facades\Artisan;

Artisan::command('sandbox:version', function () {
    $this->line(config('app.version'));
})->purpose('Print the DreamFactory version from config/app.php');
