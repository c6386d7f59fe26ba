<?php

// Laravel comes from Debian's php-laravel-framework, not from Packagist: this file is
// listed in composer.json autoload.files so vendor/autoload.php pulls it in.
if (strpos(get_include_path(), '/usr/share/php') === false) {
    set_include_path(get_include_path() . PATH_SEPARATOR . '/usr/share/php');
}
require_once 'Illuminate/autoload.php';
