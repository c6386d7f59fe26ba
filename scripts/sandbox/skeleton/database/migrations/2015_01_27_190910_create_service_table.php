<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

class CreateServiceTable extends Migration
{
    public function up()
    {
        Schema::create('service', function (Blueprint $t) {
            $t->increments('id');
            $t->string('name', 40)->unique();
            $t->string('label', 80);
            $t->string('description')->nullable();
            $t->boolean('is_active')->default(0);
            $t->string('type', 40);
            $t->boolean('mutable')->default(1);
            $t->boolean('deletable')->default(1);
            // Credentials, encrypted with Laravel's Crypt under APP_KEY.
            $t->text('config')->nullable();
            $t->timestamp('created_date')->nullable();
            $t->timestamp('last_modified_date')->nullable();
        });
    }

    public function down()
    {
        Schema::dropIfExists('service');
    }
}
